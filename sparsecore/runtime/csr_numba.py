"""Optional numba kernels (``sparsecore[fast]``): CSR and sparse-training products.

Imported only when the ``"numba"`` backend is used; importing this module
raises ImportError when numba is not installed. The kernels are serial and
release the GIL (``nogil=True``); :func:`sparsecore.runtime.csr.parallel_rows`
and :func:`~sparsecore.runtime.csr.parallel_ranges` run them on several
threads.

:func:`kernel` computes ``Y[r0:r1] += A[r0:r1] @ H`` for inference. Why its
loops are faster than scipy's (measured on the tutorial shape):

- batch 1: ``indptr`` (as ``uint64``) and ``indices`` (as ``uint32``) are
  unsigned, so numba emits no negative-index wraparound and LLVM vectorises
  the gathered dot product (measured 0.4-0.8 ns per nonzero, scipy 0.5-0.9);
- batch > 1: ``Y[i, :]`` is updated once per *four* nonzeros, which breaks
  the store -> load dependency through ``Y[i, :]`` that limits a one-nonzero-
  at-a-time loop (and scipy's ``csr_matvecs``) to one update per ~10 cycles.

:func:`rows_product` and :func:`sampled_product` are the products of sparse
training over a fixed pattern (:mod:`sparsecore.runtime.pattern`), with the
batch on the contiguous axis: ``Y[i, :] = b[i] + sum_jj data[perm[jj]]
H[indices[jj], :]`` (assigned, not added; ``perm`` and ``b`` optional) and the
sampled dense-dense
product ``out[jj] = X[i, :] . G[indices[jj], :]``. Both stream whole rows of
``B`` contiguous values per nonzero (four nonzeros per pass over the row),
which measured 44-60 ps per multiply-add on one core of the 2-core AMD EPYC
(``python benchmarks/training.py --calibrate``, batches 32-1024); blocking
the batch into cache-sized chunks measured slower.

Only the ``reassoc`` and ``contract`` fast-math flags are used, so NaN and
infinity propagate as in NumPy; sums may be reassociated (rounding differs
from the dense product in the last bits).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numba
import numpy as np

if TYPE_CHECKING:
    from .csr import CSRMatrix

__all__ = ["kernel", "rows_product", "sampled_product"]

_FLAGS: dict[str, Any] = {
    "fastmath": {"reassoc", "contract"},
    "nogil": True,
    "cache": True,
    "boundscheck": False,
    "error_model": "numpy",
}


@numba.njit(**_FLAGS)
def _mv(r0, r1, indptr, indices, data, x, y):  # type: ignore[no-untyped-def]
    for i in range(r0, r1):
        s = y[i] * 0
        for jj in range(indptr[i], indptr[i + 1]):
            s += data[jj] * x[indices[jj]]
        y[i] += s


@numba.njit(**_FLAGS)
def _mm(r0, r1, indptr, indices, data, H, Y):  # type: ignore[no-untyped-def]
    B = H.shape[1]
    for i in range(r0, r1):
        p1 = indptr[i + 1]
        jj = indptr[i]
        while jj + 4 <= p1:
            a0 = data[jj]
            a1 = data[jj + 1]
            a2 = data[jj + 2]
            a3 = data[jj + 3]
            j0 = indices[jj]
            j1 = indices[jj + 1]
            j2 = indices[jj + 2]
            j3 = indices[jj + 3]
            for k in range(B):
                Y[i, k] += (a0 * H[j0, k] + a1 * H[j1, k]) + (
                    a2 * H[j2, k] + a3 * H[j3, k]
                )
            jj += 4
        while jj < p1:
            a = data[jj]
            j = indices[jj]
            for k in range(B):
                Y[i, k] += a * H[j, k]
            jj += 1


def kernel(A: CSRMatrix, H: np.ndarray, Y: np.ndarray, r0: int, r1: int) -> None:
    """``Y[r0:r1] += A[r0:r1] @ H`` (H and Y C-contiguous, 1-D or 2-D)."""
    if r1 <= r0:
        return
    idx = A.indices_u32
    if H.ndim == 1:
        _mv(r0, r1, A.indptr_u64, idx, A.data, H, Y)
    else:
        _mm(r0, r1, A.indptr, idx, A.data, H, Y)


@numba.njit(**_FLAGS)
def _rows_mm(r0, r1, indptr, indices, perm, data, bias, H, Y):  # type: ignore[no-untyped-def]
    # Y[i, :] = bias[i] + sum over the row's nonzeros of data[perm[jj]] *
    # H[indices[jj], :] (perm of length 0: data[jj] itself; bias of length 0:
    # no bias). The row starts at the bias, which costs nothing more than 0.
    B = H.shape[1]
    direct = perm.shape[0] == 0
    biased = bias.shape[0] > 0
    for i in range(r0, r1):
        b = bias[i] if biased else 0.0  # (float32 bias values are exact in float64)
        for k in range(B):
            Y[i, k] = b
        p1 = indptr[i + 1]
        jj = indptr[i]
        while jj + 4 <= p1:
            if direct:
                a0 = data[jj]
                a1 = data[jj + 1]
                a2 = data[jj + 2]
                a3 = data[jj + 3]
            else:
                a0 = data[perm[jj]]
                a1 = data[perm[jj + 1]]
                a2 = data[perm[jj + 2]]
                a3 = data[perm[jj + 3]]
            j0 = indices[jj]
            j1 = indices[jj + 1]
            j2 = indices[jj + 2]
            j3 = indices[jj + 3]
            for k in range(B):
                Y[i, k] += (a0 * H[j0, k] + a1 * H[j1, k]) + (
                    a2 * H[j2, k] + a3 * H[j3, k]
                )
            jj += 4
        while jj < p1:
            a = data[jj] if direct else data[perm[jj]]
            j = indices[jj]
            for k in range(B):
                Y[i, k] += a * H[j, k]
            jj += 1


@numba.njit(**_FLAGS)
def _sddmm(r0, r1, indptr, indices, X, G, out):  # type: ignore[no-untyped-def]
    # out[jj] = X[i, :] . G[indices[jj], :] for the nonzeros jj of rows r0..r1.
    B = X.shape[1]
    for i in range(r0, r1):
        p1 = indptr[i + 1]
        jj = indptr[i]
        while jj + 4 <= p1:
            j0 = indices[jj]
            j1 = indices[jj + 1]
            j2 = indices[jj + 2]
            j3 = indices[jj + 3]
            s0 = X[i, 0] * 0
            s1 = s0
            s2 = s0
            s3 = s0
            for k in range(B):
                x = X[i, k]
                s0 += x * G[j0, k]
                s1 += x * G[j1, k]
                s2 += x * G[j2, k]
                s3 += x * G[j3, k]
            out[jj] = s0
            out[jj + 1] = s1
            out[jj + 2] = s2
            out[jj + 3] = s3
            jj += 4
        while jj < p1:
            j = indices[jj]
            s = X[i, 0] * 0
            for k in range(B):
                s += X[i, k] * G[j, k]
            out[jj] = s
            jj += 1


def rows_product(
    indptr: np.ndarray,
    indices: np.ndarray,
    perm: np.ndarray,
    data: np.ndarray,
    bias: np.ndarray,
    H: np.ndarray,
    Y: np.ndarray,
    r0: int,
    r1: int,
) -> None:
    """``Y[i] = bias[i] + sum_jj data[perm[jj]] * H[indices[jj]]``, rows ``r0..r1``.

    `H` ``(N, B)`` and `Y` ``(M, B)`` are C-contiguous; `perm` (int32) maps
    each nonzero to its value, or is empty for ``data[jj]`` itself; `bias`
    ``(M,)``, or empty for none. ``B`` must be at least 1.
    """
    if r1 > r0:
        _rows_mm(r0, r1, indptr, indices, perm, data, bias, H, Y)


def sampled_product(
    indptr: np.ndarray,
    indices: np.ndarray,
    X: np.ndarray,
    G: np.ndarray,
    out: np.ndarray,
    r0: int,
    r1: int,
) -> None:
    """``out[jj] = X[i] . G[indices[jj]]`` for the nonzeros of rows ``r0 <= i < r1``.

    `X` ``(M, B)`` and `G` ``(N, B)`` are C-contiguous with ``B >= 1``;
    `out` has one entry per nonzero (the CSR order).
    """
    if r1 > r0:
        _sddmm(r0, r1, indptr, indices, X, G, out)
