"""SparseLayer: one stored layer ``y = act(x @ kernel + bias)`` of a SparseModel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .csr import CSRMatrix

__all__ = ["SparseLayer"]


@dataclass(eq=False)
class SparseLayer:
    """One layer ``y = act(x @ kernel + bias)`` of a :class:`SparseModel`.

    Attributes
    ----------
    weight : CSRMatrix or ndarray of shape (n_out, n_in)
        The *transposed* kernel: dense row-major, or CSR with one row per
        output neuron.
    bias : ndarray of shape (n_out,)
    activation : str
        One of :data:`ACTIVATIONS`.
    alpha : float
        Negative slope of ``leaky_relu`` (0 for other activations).
    original_shape : tuple of int
        ``(n_in, n_out)`` of the kernel before compaction.
    """

    weight: CSRMatrix | np.ndarray
    bias: np.ndarray
    activation: str = "linear"
    alpha: float = 0.0
    original_shape: tuple[int, int] = (0, 0)
    _bias_col: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._bias_col = self.bias[:, None]

    @property
    def format(self) -> Literal["csr", "dense"]:
        return "csr" if isinstance(self.weight, CSRMatrix) else "dense"

    @property
    def shape(self) -> tuple[int, int]:
        """Kernel shape ``(n_in, n_out)`` after compaction."""
        return (int(self.weight.shape[1]), int(self.weight.shape[0]))

    @property
    def nnz(self) -> int:
        if isinstance(self.weight, CSRMatrix):
            return self.weight.nnz
        return int(np.count_nonzero(self.weight))

    @property
    def nbytes(self) -> int:
        return int(self.weight.nbytes + self.bias.nbytes)

    def kernel(self) -> np.ndarray:
        """The dense kernel, shape ``(n_in, n_out)`` (a new array)."""
        if isinstance(self.weight, CSRMatrix):
            return self.weight.toarray().T.copy()
        return self.weight.T.copy()
