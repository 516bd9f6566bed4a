"""sparsecore: a framework-agnostic neural-network pruning engine in NumPy.

Three stages, three subpackages: :mod:`sparsecore.nn` (train),
:mod:`sparsecore.prune` (prune) and :mod:`sparsecore.runtime` (deploy).
The names most users need are re-exported here.
"""

from sparsecore import data, nn, prune, runtime
from sparsecore._version import __version__
from sparsecore.checkpoint import CheckpointFormatError, ModelCheckpoint, load_model
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
from sparsecore.prune import (
    ConstantSparsity,
    PolynomialDecay,
    Pruner,
    PruningSchedule,
    PruningScheduleWarning,
    sparsity_report,
    strip_pruning,
)
from sparsecore.runtime import SparseFormatError, SparseModel

__all__ = [
    "Adam",
    "AdamW",
    "BinaryCrossentropy",
    "Callback",
    "CheckpointFormatError",
    "CategoricalCrossentropy",
    "ConstantSparsity",
    "Dense",
    "EarlyStopping",
    "History",
    "Identity",
    "LeakyReLU",
    "MAE",
    "MSE",
    "ModelCheckpoint",
    "NonFiniteLossError",
    "PolynomialDecay",
    "Pruner",
    "PruningSchedule",
    "PruningScheduleWarning",
    "ReLU",
    "SGD",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "SparseFormatError",
    "SparseModel",
    "Tanh",
    "TerminateOnNaN",
    "__version__",
    "data",
    "load_model",
    "nn",
    "prune",
    "runtime",
    "sparsity_report",
    "strip_pruning",
]
