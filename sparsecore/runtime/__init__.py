"""Deploy stage: sparse (CSR) and compacted inference that needs only NumPy.

This package imports nothing from the rest of sparsecore and nothing but NumPy
at import time (scipy, and numba when installed, are used lazily), so the
folder can be vendored into a NumPy-only program.

>>> import numpy as np
>>> from sparsecore.runtime import SparseModel
>>> w = np.array([[0.0, 1.0], [2.0, 0.0]], dtype=np.float32)
>>> sm = SparseModel.from_layers([(w, None, "relu")], format="csr")
>>> sm.predict(np.array([[1.0, 1.0]])).tolist()
[[2.0, 1.0]]
"""

from .csr import CSRMatrix, available_backends
from .format import (
    SparseFormatError,
    atomic_savez,
    atomic_write,
    load_sparse_model,
    save_sparse_model,
)
from .model import SparseLayer, SparseModel, compact_layers

__all__ = [
    "CSRMatrix",
    "SparseFormatError",
    "SparseLayer",
    "SparseModel",
    "atomic_savez",
    "atomic_write",
    "available_backends",
    "compact_layers",
    "load_sparse_model",
    "save_sparse_model",
]
