"""Deploy stage: sparse (CSR) and compacted inference that needs only NumPy.

This package imports nothing from the rest of sparsecore and nothing but NumPy
at import time (scipy, and numba when installed, are used lazily), so the
folder can be vendored into a NumPy-only program. Its modules: ``csr`` (the
CSR matrix and its kernels), ``ell`` (the sorted, sliced ELLPACK layout of the
pure-NumPy kernels), ``model`` (SparseModel and SparseLayer), ``compact``,
``auto`` (the ``format="auto"`` cost model), ``plan`` (the planner that
chooses format, backend and threads per layer, and its cache), ``activations``, ``io``
(the ``.npz`` layout of a SparseModel: binsparse layers), ``atomic`` (the safe
writer), ``npz`` and ``safetensors`` (the defensive readers) and ``onnx``
(``SparseModel.to_onnx``; the ``onnx`` package is imported only there).

>>> import numpy as np
>>> from sparsecore.runtime import SparseModel
>>> w = np.array([[0.0, 1.0], [2.0, 0.0]], dtype=np.float32)
>>> sm = SparseModel.from_layers([(w, None, "relu")], format="csr")
>>> sm.predict(np.array([[1.0, 1.0]])).tolist()
[[2.0, 1.0]]
"""

from .atomic import atomic_savez, atomic_write
from .auto import auto_max_density
from .compact import compact_layers
from .csr import CSRMatrix, available_backends
from .io import load_sparse_model, save_sparse_model
from .model import SparseLayer, SparseModel
from .npz import NpzArchive, SparseFormatError, open_npz
from .plan import LayerPlan, clear_plan_cache, plan_layers
from .safetensors import SafetensorsFile, open_safetensors

__all__ = [
    "CSRMatrix",
    "LayerPlan",
    "NpzArchive",
    "SparseFormatError",
    "SparseLayer",
    "SafetensorsFile",
    "SparseModel",
    "atomic_savez",
    "atomic_write",
    "auto_max_density",
    "available_backends",
    "clear_plan_cache",
    "compact_layers",
    "load_sparse_model",
    "open_npz",
    "open_safetensors",
    "plan_layers",
    "save_sparse_model",
]
