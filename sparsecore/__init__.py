"""sparsecore: a framework-agnostic neural-network pruning engine in NumPy.

Three stages, three subpackages: :mod:`sparsecore.nn` (train),
:mod:`sparsecore.prune` (prune) and :mod:`sparsecore.runtime` (deploy).
The names most users need are re-exported here.
"""

from sparsecore import data
from sparsecore._version import __version__
from sparsecore.nn import (
    MAE,
    MSE,
    SGD,
    Adam,
    AdamW,
    BinaryCrossentropy,
    Callback,
    CategoricalCrossentropy,
    Dense,
    EarlyStopping,
    History,
    Identity,
    LeakyReLU,
    NonFiniteLossError,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
    TerminateOnNaN,
)

__all__ = [
    "MAE",
    "MSE",
    "SGD",
    "Adam",
    "AdamW",
    "BinaryCrossentropy",
    "Callback",
    "CategoricalCrossentropy",
    "Dense",
    "EarlyStopping",
    "History",
    "Identity",
    "LeakyReLU",
    "NonFiniteLossError",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "TerminateOnNaN",
    "__version__",
    "data",
]
