"""The train stage: layers, losses, metrics, initializers, optimizers and their
learning-rate schedules, Sequential, callbacks."""

from sparsecore.nn import learning_rate, metrics
from sparsecore.nn.activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from sparsecore.nn.callbacks import (
    Callback,
    EarlyStopping,
    History,
    ProgressLogger,
    TerminateOnNaN,
)
from sparsecore.nn.gradcheck import check_layer, check_loss, check_model
from sparsecore.nn.layers import Dense, Layer, ResidualDense
from sparsecore.nn.learning_rate import (
    CosineDecay,
    ExponentialDecay,
    LearningRateSchedule,
    PiecewiseConstantDecay,
)
from sparsecore.nn.losses import (
    MAE,
    MSE,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Loss,
    SparseCategoricalCrossentropy,
)
from sparsecore.nn.model import NonFiniteLossError, Sequential
from sparsecore.nn.optimizers import SGD, Adam, AdamW, Optimizer

__all__ = [
    "MAE",
    "MSE",
    "SGD",
    "Adam",
    "AdamW",
    "BinaryCrossentropy",
    "Callback",
    "CategoricalCrossentropy",
    "CosineDecay",
    "Dense",
    "EarlyStopping",
    "ExponentialDecay",
    "History",
    "Identity",
    "Layer",
    "LearningRateSchedule",
    "LeakyReLU",
    "Loss",
    "NonFiniteLossError",
    "Optimizer",
    "PiecewiseConstantDecay",
    "ProgressLogger",
    "ReLU",
    "ResidualDense",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "SparseCategoricalCrossentropy",
    "Tanh",
    "TerminateOnNaN",
    "check_layer",
    "check_loss",
    "check_model",
    "learning_rate",
    "metrics",
]
