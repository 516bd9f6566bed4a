"""Deploy stage: sparse (CSR) and compacted inference that needs only NumPy.

This package imports nothing from the rest of sparsecore and nothing but NumPy
at import time (scipy is used lazily when present), so the folder can be
vendored into a NumPy-only program.
"""

from sparsecore.runtime.format import SparseFormatError, atomic_savez, atomic_write

__all__ = ["SparseFormatError", "atomic_savez", "atomic_write"]
