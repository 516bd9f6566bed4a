"""The ``format="auto"`` rule: CSR or dense per layer, from a calibrated table.

:func:`auto_max_density` gives the largest density stored as CSR for a
backend and batch size; :func:`auto_format` applies it to one layer.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

__all__ = [
    "AUTO_BATCHES",
    "AUTO_MAX_DENSITY",
    "AUTO_MIN_SIZE",
    "auto_format",
    "auto_max_density",
]

# Calibrated with ``python benchmarks/inference.py --calibrate`` (one
# 1024x1024 layer, dense vs CSR, per backend, batch and density; results in
# benchmarks/results/inference.calibration.csv). Largest density (nnz /
# (n_in * n_out)) at which format="auto" stores a layer as CSR, per backend,
# at batch sizes 1, 16, 256, 1024 (interpolated in log2(batch), constant
# outside). Each is 0.75x the measured break-even density; at batch 1 it is
# further divided by 1.5 because the dense GEMV runs on 2 BLAS threads while a
# batch-1 CSR product is too short to split.
AUTO_BATCHES = (1.0, 16.0, 256.0, 1024.0)
AUTO_MAX_DENSITY: dict[str, tuple[float, float, float, float]] = {
    "numba": (0.06, 0.14, 0.2, 0.2),
    "scipy": (0.045, 0.09, 0.10, 0.11),
    "numpy": (0.01, 0.008, 0.003, 0.003),
}
# Below this many weights a layer is kept dense: both take ~1 us.
AUTO_MIN_SIZE = 4096


def auto_max_density(backend: str, batch_size: int) -> float:
    """Largest density at which ``format="auto"`` stores a layer as CSR.

    Parameters
    ----------
    backend : {'numba', 'scipy', 'numpy'}
    batch_size : int
        Expected number of samples per ``predict`` call (per chunk).

    Returns
    -------
    float
        A layer with ``nnz <= max_density * n_in * n_out`` (and at least
        4096 weights) is stored as CSR, any other as dense.

    Notes
    -----
    The table (backend x batch 1, 16, 256, 1024) is interpolated linearly in
    ``log2(batch_size)``:

    ======  =====  =====  =====  =====
    batch   1      16     256    1024
    ======  =====  =====  =====  =====
    numba   0.06   0.14   0.2    0.2
    scipy   0.045  0.09   0.10   0.11
    numpy   0.01   0.008  0.003  0.003
    ======  =====  =====  =====  =====

    It was calibrated with ``python benchmarks/inference.py --calibrate``
    (a 1024 x 1024 layer, dense vs CSR): each entry is 0.75x the density at
    which CSR and dense measured equally fast (and /1.5 at batch 1, where the
    dense GEMV uses 2 BLAS threads and the CSR product one), so ``auto`` errs
    towards dense, which is never slower than NumPy's ``x @ W``.
    """
    table = AUTO_MAX_DENSITY[backend]
    lb = math.log2(max(1, batch_size))
    xs = [math.log2(b) for b in AUTO_BATCHES]
    return float(np.interp(lb, xs, table))


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
        ``'csr'`` if ``wt`` has at least 4096 weights and a density of at most
        ``auto_max_density(backend, batch_size)``.
    """
    size = max(1, wt.size)
    density = np.count_nonzero(wt) / size
    small = wt.size < AUTO_MIN_SIZE
    limit = auto_max_density(backend, batch_size)
    return "csr" if (density <= limit and not small) else "dense"
