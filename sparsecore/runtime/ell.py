"""Sorted, sliced ELLPACK: the layout behind the pure-NumPy CSR kernel.

NumPy has no compiled sparse product, so ``Y += A @ H`` must be written with
whole-array operations: gather the ``H`` rows of every nonzero, multiply by
the values, sum per output row. How fast that is depends on the layout the
sums run over (measured on the tutorial's 1024 x 1000 layer, float32, one
core, NumPy 2.4; ``python benchmarks/inference.py --kernels`` times them):

- CSR's variable-length rows need ``np.add.reduceat``, which costs ~15 ns
  *per row* on top of the elements (the old kernel: ~2 ns per nonzero at
  95 % sparsity, batch 1), and ``H[indices]`` with int32 indices adds a cast;
- ELLPACK pads every row to the same length ``K``, so the sums over the rows
  of a slice of ``m`` rows stored column-major, a ``(K, m)`` block, are
  ``ones(K) @ block``: BLAS's GEMV adds whole contiguous rows of the block
  (1.7-2x as fast as ``np.add.reduce(axis=0)``, ~0.1 ns per element);
- one ``K`` for all rows pads random-mask rows by ~50 % (row lengths vary
  binomially); rows **sorted by length** and cut into a few **slices**, each
  padded to its own longest row, pad by 5-11 % at 90-95 % sparsity (the cuts
  are chosen by :func:`slice_rows`, trading padding against ~2 us of NumPy
  call overhead per slice);
- the gather is ``np.take(..., mode="wrap")`` with intp indices: 0.4-0.6 ns
  per element, ``mode="clip"`` and ``"raise"`` measured 40-80 % slower and
  int32 indices pay a cast -- the gather is most of the cost at batch 1.

Batch 1 uses the *column-major* slices (:data:`COLUMNS`): gather, multiply,
sum: 0.6-0.75 ns per nonzero in all. A batch of ``B > 1`` columns uses
*row-major* slices ``(m, K)`` (:data:`ROWS`): gather the rows ``H[j]`` (``B``
contiguous values each), then one stacked ``np.matmul((m, 1, K), (m, K, B))``
per slice, which multiplies and sums in one pass (0.28 ns per nonzero and
column at B=16, 0.10 at B=256, against 0.6 and 0.55 for a broadcast multiply
and a reduction). The gather works in row chunks of at most
:data:`CHUNK_ELEMENTS` gathered values, so the product stays in the L2
cache. The rows come out sorted; one more gather puts them back in order.

A padded slot repeats the row's last column with the value 0, so a NaN in
``H`` reaches only the rows that use its column, as in CSR (an infinite
``H[j]`` still gives ``0 * inf = NaN`` in a padded row that also uses ``j``,
where CSR gives +-inf).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

__all__ = [
    "CHUNK_ELEMENTS",
    "COLUMNS",
    "ROWS",
    "SLICE_COST",
    "SlicedELL",
    "slice_rows",
]

COLUMNS = "columns"
ROWS = "rows"
# A slice costs ~2 us of NumPy call overhead, the time of ~2,000 gathered,
# multiplied and summed elements at batch 1 (0.75 ns each, measured above).
SLICE_COST = 2000
MAX_SLICES = 8
# Gathered values per chunk of the batched kernel: 256 Ki float32 = 1 MiB,
# the L2 cache of one core on the machine this was measured on.
CHUNK_ELEMENTS = 1 << 18


def slice_rows(
    lengths: np.ndarray, slice_cost: float = SLICE_COST, max_slices: int = MAX_SLICES
) -> list[tuple[int, int]]:
    """Cut rows sorted by decreasing length into slices of least total cost.

    Parameters
    ----------
    lengths : ndarray of shape (m,)
        Row lengths, non-increasing, all > 0.
    slice_cost : float, default=SLICE_COST
        The cost of one more slice, in padded elements.
    max_slices : int, default=MAX_SLICES

    Returns
    -------
    list of (r0, r1)
        Contiguous ranges covering ``[0, m)``; slice ``[r0, r1)`` is padded to
        ``lengths[r0]``.

    Notes
    -----
    Minimises ``sum_s (r1_s - r0_s) * lengths[r0_s] + slice_cost * S`` over
    the cuts and ``S <= max_slices`` by dynamic programming over at most 128
    candidate cuts (where the length changes, thinned to quantiles), one
    vectorised ``(C, C)`` step per slice count.
    """
    m = int(lengths.shape[0])
    if m == 0:
        return []
    change = np.flatnonzero(np.diff(lengths)) + 1
    if change.shape[0] > 126:
        pick = np.linspace(0, change.shape[0] - 1, 126).round().astype(np.intp)
        change = change[np.unique(pick)]
    cand = np.concatenate(([0], change, [m])).astype(np.int64)
    C = cand.shape[0]
    L = lengths[cand[:-1]].astype(np.float64)  # padded length of a slice from i
    # cost[i, j]: slice from cand[i] to cand[j] (i < j)
    span = cand[None, :] - cand[:-1, None]
    cost = np.where(span > 0, span * L[:, None] + slice_cost, np.inf)
    best = np.full(C, np.inf)
    best[0] = 0.0
    args: list[np.ndarray] = []
    totals = []
    for _ in range(max_slices):
        trial = best[:-1, None] + cost  # (C - 1, C)
        arg = np.argmin(trial, axis=0)
        best = trial[arg, np.arange(C)]
        best[0] = np.inf
        args.append(arg)
        totals.append(best[-1])
    s = int(np.argmin(totals))
    cuts = [C - 1]
    for arg in reversed(args[: s + 1]):
        cuts.append(int(arg[cuts[-1]]))
    cuts.reverse()
    return [(int(cand[a]), int(cand[b])) for a, b in zip(cuts, cuts[1:], strict=False)]


class SlicedELL:
    """A CSR matrix as sorted, sliced ELLPACK, for the pure-NumPy kernels.

    Parameters
    ----------
    data : ndarray of shape (nnz,)
    indices : ndarray of shape (nnz,)
    indptr : ndarray of shape (M + 1,)
        A canonical CSR matrix of shape ``(M, N)`` (see
        :class:`~sparsecore.runtime.csr.CSRMatrix`).
    shape : tuple of int
        ``(M, N)``.
    major : {'columns', 'rows'}
        ``'columns'``: slices stored ``(K, m)`` (:meth:`matvec`, batch 1);
        ``'rows'``: ``(m, K)`` (:meth:`matmat`, a batch).

    Attributes
    ----------
    order : ndarray of shape (nz,)
        The non-empty rows, longest first.
    inverse : ndarray of shape (M,)
        Position of each row in ``order``; ``nz`` (a zero slot) for an empty
        row.
    slices : list of (r0, r1, K, offset)
        Rows ``order[r0:r1]`` padded to ``K``, stored at ``cols[offset:
        offset + (r1 - r0) * K]``.
    cols : ndarray of shape (padded,) of intp
    vals : ndarray of shape (padded,)
    padded : int
        Stored slots (nnz plus padding).
    """

    __slots__ = (
        "M",
        "N",
        "major",
        "order",
        "inverse",
        "slices",
        "cols",
        "vals",
        "_ones",
        "_in_order",
        "_local",
    )

    def __init__(
        self,
        data: np.ndarray,
        indices: np.ndarray,
        indptr: np.ndarray,
        shape: tuple[int, int],
        major: str,
    ) -> None:
        if major not in (COLUMNS, ROWS):
            raise ValueError(f"major must be one of {[COLUMNS, ROWS]}; got {major!r}")
        self.M, self.N = int(shape[0]), int(shape[1])
        self.major = major
        lengths = np.diff(indptr).astype(np.intp)
        order = np.argsort(-lengths, kind="stable")
        nz = int(np.count_nonzero(lengths))
        self.order = order[:nz]
        self.inverse = np.full(self.M, nz, dtype=np.intp)
        self.inverse[self.order] = np.arange(nz)
        sorted_len = lengths[self.order]
        starts = indptr[:-1].astype(np.intp)[self.order]
        self.slices: list[tuple[int, int, int, int]] = []
        cols, vals = [], []
        offset = 0
        for r0, r1 in slice_rows(sorted_len):
            K = int(sorted_len[r0])
            length = sorted_len[r0:r1, None]
            slot = np.arange(K)[None, :]
            # Slot k of a row reads its nonzero min(k, length - 1): padding
            # repeats the row's last column, with the value 0 (below).
            src = starts[r0:r1, None] + np.minimum(slot, length - 1)  # (m, K)
            c = indices[src].astype(np.intp)
            v = np.where(slot < length, data[src], 0).astype(data.dtype)
            if major == COLUMNS:
                c, v = c.T, v.T
            cols.append(c.ravel())
            vals.append(v.ravel())
            self.slices.append((r0, r1, K, offset))
            offset += (r1 - r0) * K
        self.cols = np.concatenate(cols) if cols else np.zeros(0, np.intp)
        self.vals = np.concatenate(vals) if vals else np.zeros(0, data.dtype)
        self._ones = np.ones(
            max((k for _, _, k, _ in self.slices), default=0), data.dtype
        )
        # Rows already longest first and none empty (an output layer of one
        # neuron, equal row lengths): the sums can be written straight to y.
        self._in_order = nz == self.M and bool(
            np.array_equal(self.order, np.arange(self.M))
        )
        self._local = threading.local()

    @property
    def padded(self) -> int:
        return int(self.cols.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.cols.nbytes + self.vals.nbytes + self.inverse.nbytes)

    def _workspace(self) -> tuple[np.ndarray, np.ndarray, list[tuple[Any, ...]]]:
        # Per thread: the gathered products, the sorted row sums (one zero slot
        # at the end for empty rows) and the views the sums run over, made once
        # so that a call costs a few NumPy calls and nothing else.
        ws = getattr(self._local, "ws", None)
        if ws is None:
            p = np.empty(self.padded, self.vals.dtype)
            t = np.zeros(self.order.shape[0] + 1, self.vals.dtype)
            views = [
                (
                    self._ones[:K],
                    p[off : off + (r1 - r0) * K].reshape(K, r1 - r0),
                    t[r0:r1],
                )
                for r0, r1, K, off in self.slices
            ]
            ws = self._local.ws = (p, t, views)
        return ws

    def matvec(
        self, x: np.ndarray, y: np.ndarray, bias: np.ndarray | None = None
    ) -> None:
        """``y += A @ x``, or ``y = A @ x + bias`` when `bias` is given.

        Parameters
        ----------
        x : ndarray of shape (N,)
        y : ndarray of shape (M,)
            Written in place.
        bias : ndarray of shape (M,), optional

        Notes
        -----
        ``p = vals * x[cols]`` (one gather, one multiply), then per slice
        ``t[r0:r1] = ones(K) @ p_slice.reshape(K, m)``: BLAS's GEMV sums the
        ``K`` slots of every row, 1.7-2x as fast as ``np.add.reduce(axis=0)``
        on these shapes (measured); then ``y (+)= t[inverse]``.
        """
        if self.major != COLUMNS:
            raise ValueError("matvec needs major='columns'")
        p, t, views = self._workspace()
        np.take(x, self.cols, out=p, mode="wrap")
        np.multiply(p, self.vals, out=p)
        if bias is not None and self._in_order:
            for (ones, block, _), (r0, r1, _, _) in zip(
                views, self.slices, strict=True
            ):
                np.dot(ones, block, out=y[r0:r1])
            y += bias
            return
        for ones, block, out in views:
            np.dot(ones, block, out=out)
        if bias is None:
            y += np.take(t, self.inverse, mode="wrap")
        else:
            np.take(t, self.inverse, out=y, mode="wrap")
            y += bias

    def matmat(
        self, H: np.ndarray, Y: np.ndarray, bias_col: np.ndarray | None = None
    ) -> None:
        """``Y += A @ H``, or ``Y = A @ H + bias_col`` when `bias_col` is given.

        Parameters
        ----------
        H : ndarray of shape (N, B)
        Y : ndarray of shape (M, B)
            Written in place.
        bias_col : ndarray of shape (M, 1), optional

        Notes
        -----
        Per slice and chunk of rows, ``P = H[cols]`` (a gather of rows of
        ``B`` values), then ``t[rows] = vals.reshape(m, 1, K) @ P.reshape(m,
        K, B)`` (a stacked matmul: multiply and sum in one pass); then
        ``Y (+)= t[inverse]``.
        """
        if self.major != ROWS:
            raise ValueError("matmat needs major='rows'")
        nz = self.order.shape[0]
        B = H.shape[1]
        direct = bias_col is not None and self._in_order
        if direct:
            t = Y  # the rows are in order: the sums go straight to Y
        else:
            t = np.empty((nz + 1, B), Y.dtype)
            t[nz] = 0
        # Rows per chunk: the gathered (rows * K, B) block stays near
        # CHUNK_ELEMENTS values (the L2 cache); one buffer serves all chunks.
        steps = [max(1, CHUNK_ELEMENTS // (K * B)) for _, _, K, _ in self.slices]
        need = max(
            (
                min(r1 - r0, st) * K
                for (r0, r1, K, _), st in zip(self.slices, steps, strict=True)
            ),
            default=0,
        )
        buf = np.empty((need, B), H.dtype)
        for (r0, r1, K, off), step in zip(self.slices, steps, strict=True):
            for a in range(r0, r1, step):
                b = min(r1, a + step)
                m = b - a
                o0 = off + (a - r0) * K
                n = m * K
                p = np.take(H, self.cols[o0 : o0 + n], axis=0, out=buf[:n], mode="wrap")
                np.matmul(
                    self.vals[o0 : o0 + n].reshape(m, 1, K),
                    p.reshape(m, K, B),
                    out=t[a:b].reshape(m, 1, B),
                )
        if direct:
            Y += bias_col
        elif bias_col is None:
            Y += np.take(t, self.inverse, axis=0, mode="wrap")
        else:
            np.take(t, self.inverse, axis=0, out=Y, mode="wrap")
            Y += bias_col
