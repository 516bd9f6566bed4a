"""The ``format="auto"`` rule: CSR or dense per layer, from a calibrated table.

:func:`auto_max_density` gives, per backend and batch size, the density at
which a large CSR layer is estimated as fast as dense; :func:`estimate_seconds`
turns it into a cost model with a fixed cost per product (what decides small
layers); :func:`auto_format` and the planner choose with it. This is
the planner's ``plan="estimate"`` (:mod:`sparsecore.runtime.plan`);
``plan="measure"`` times the candidates on the machine instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

__all__ = [
    "AUTO_BATCHES",
    "AUTO_MAX_DENSITY",
    "AUTO_MIN_SIZE",
    "DENSE_NS_PER_MAC",
    "FIXED_SECONDS",
    "auto_format",
    "auto_max_density",
    "estimate_seconds",
]

# Calibrated with ``python benchmarks/inference.py --calibrate`` (one
# 1024x1024 layer, dense vs CSR, per backend, batch and density; results in
# benchmarks/results/inference.calibration.csv). Largest density (nnz /
# (n_in * n_out)) at which format="auto" stores a layer as CSR, per backend,
# at batch sizes 1, 16, 256, 1024 (interpolated in log2(batch), constant
# outside). Each is 0.75x the measured break-even density; at batch 1 it is
# further divided by 1.5 because the dense GEMV runs on 2 BLAS threads while a
# batch-1 CSR product is too short to split. At batch 1, scipy's entry is the
# one numba had (its CSR product measured 10-20 % faster than dense at 5 %
# density, the tutorial's 95 % cell, in every run) and numba's is set just
# below it: on the 2-core AMD EPYC numba's vectorised batch-1 product measured
# from 0.7x to 1.2x scipy's loop from run to run, so the estimate keeps
# scipy's plan at batch 1 and installing numba cannot make that cell slower
# (plan="measure" takes numba where it is faster). At batch 16 both CSR
# entries are below 0.1: at 10 % density (the tutorial's 90 % cell) numba's
# CSR measured x1.5-1.7 over NumPy dense against x2.1 for dense on a loaded
# machine (and equal to dense on a quiet one), the cell where the issue saw
# numba make auto slower; at 5 % numba measured 1.25x scipy and 1.5x dense,
# hence 0.08 and 0.065 (linear in nnz). numpy's row is for the
# sliced ELLPACK kernels (sparsecore.runtime.ell): the break-even densities of
# a run with one BLAS thread (0.067, 0.086, 0.078, 0.06), scaled by scipy's
# ratio between this table and that run (0.019, 0.074, 0.06, 0.062), then
# lowered from batch 16 on (a 5 %-dense layer measured faster dense, with two
# BLAS threads, at batch 16 and 256).
AUTO_BATCHES = (1.0, 16.0, 256.0, 1024.0)
AUTO_MAX_DENSITY: dict[str, tuple[float, float, float, float]] = {
    "numba": (0.055, 0.08, 0.2, 0.2),
    "scipy": (0.06, 0.065, 0.10, 0.11),
    "numpy": (0.02, 0.04, 0.045, 0.04),
}
# Below this many weights a layer is kept dense: both take ~1 us.
AUTO_MIN_SIZE = 4096
# The dense product's time per multiply-add at the batch sizes of
# AUTO_BATCHES (NumPy's matmul on OpenBLAS, 2 threads, float32, 1024 x 1000
# weights; measured), and each product's fixed cost in seconds: the Python
# and NumPy calls around it (the NumPy ELL kernel makes five, a dense product
# two, a scipy or numba product two). These decide only small layers.
DENSE_NS_PER_MAC = (0.03, 0.016, 0.011, 0.011)
FIXED_SECONDS: dict[str, float] = {
    "blas": 1.0e-6,
    "numba": 1.5e-6,
    "scipy": 1.5e-6,
    "numpy": 4.0e-6,
}


def _interp(batch_size: int, table: Sequence[float]) -> float:
    lb = math.log2(max(1, batch_size))
    xs = [math.log2(b) for b in AUTO_BATCHES]
    return float(np.interp(lb, xs, table))


def auto_max_density(backend: str, batch_size: int) -> float:
    """Largest density at which ``format="auto"`` stores a large layer as CSR.

    Parameters
    ----------
    backend : {'numba', 'scipy', 'numpy'}
    batch_size : int
        Expected number of samples per ``predict`` call (per chunk).

    Returns
    -------
    float
        A layer of at least 4096 weights whose fixed costs are small next to
        its product is stored as CSR when ``nnz <= max_density * n_in *
        n_out`` (see :func:`estimate_seconds` for small layers).

    Notes
    -----
    The table (backend x batch 1, 16, 256, 1024) is interpolated linearly in
    ``log2(batch_size)``:

    ======  =====  =====  =====  =====
    batch   1      16     256    1024
    ======  =====  =====  =====  =====
    numba   0.055  0.08   0.2    0.2
    scipy   0.06   0.065  0.10   0.11
    numpy   0.02   0.04   0.045  0.04
    ======  =====  =====  =====  =====

    It was calibrated with ``python benchmarks/inference.py --calibrate``
    (a 1024 x 1024 layer, dense vs CSR): each entry is 0.75x the density at
    which CSR and dense measured equally fast (and /1.5 at batch 1, where the
    dense GEMV uses 2 BLAS threads and the CSR product one), so ``auto`` errs
    towards dense, which is never slower than NumPy's ``x @ W``.
    """
    return _interp(batch_size, AUTO_MAX_DENSITY[backend])


def estimate_seconds(
    format: str, backend: str, shape: tuple[int, int], nnz: int, batch_size: int
) -> float:
    """The estimated seconds of one layer's product ``W @ H + b``.

    Parameters
    ----------
    format : {'csr', 'dense'}
    backend : {'numba', 'scipy', 'numpy'}
        The CSR kernel (ignored for ``'dense'``).
    shape : tuple of int
        ``(n_out, n_in)``.
    nnz : int
        Nonzero weights.
    batch_size : int

    Returns
    -------
    float

    Notes
    -----
    With ``g(B)`` the dense time per multiply-add (:data:`DENSE_NS_PER_MAC`,
    interpolated in ``log2(B)``) and ``d_b(B)`` the backend's
    :func:`auto_max_density`:

    .. math::

        t_{dense} = c_{blas} + n_{out} n_{in} B g(B), \\qquad
        t_{csr,b} = c_b + \\mathrm{nnz}\\, B\\, g(B) / d_b(B)

    so that a large layer is CSR exactly when its density is below
    ``d_b(B)``, and the fixed costs ``c`` (:data:`FIXED_SECONDS`) decide the
    small ones.
    """
    B = max(1, batch_size)
    g = _interp(B, DENSE_NS_PER_MAC) * 1e-9
    if format == "dense":
        return FIXED_SECONDS["blas"] + shape[0] * shape[1] * B * g
    return FIXED_SECONDS[backend] + nnz * B * g / auto_max_density(backend, B)


def auto_format(
    wt: np.ndarray, backend: str, batch_size: int
) -> Literal["csr", "dense"]:
    """The storage ``format="auto"`` picks for one transposed kernel.

    Parameters
    ----------
    wt : ndarray of shape (n_out, n_in)
        The transposed kernel.
    backend : {'numba', 'scipy', 'numpy'}
    batch_size : int

    Returns
    -------
    {'csr', 'dense'}
        ``'csr'`` if ``wt`` has at least 4096 weights and
        :func:`estimate_seconds` rates CSR faster than dense.
    """
    if wt.size < AUTO_MIN_SIZE:
        return "dense"
    shape = (int(wt.shape[0]), int(wt.shape[1]))
    nnz = int(np.count_nonzero(wt))
    csr = estimate_seconds("csr", backend, shape, nnz, batch_size)
    dense = estimate_seconds("dense", backend, shape, nnz, batch_size)
    return "csr" if csr < dense else "dense"
