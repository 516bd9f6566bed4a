"""The train stage: layers, losses, initializers, optimizers, Sequential, callbacks."""

from sparsecore.nn.activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from sparsecore.nn.callbacks import (
    Callback,
    EarlyStopping,
    History,
    ProgressLogger,
    TerminateOnNaN,
)
from sparsecore.nn.gradcheck import check_layer, check_loss, check_model
from sparsecore.nn.layers import Dense, Layer
from sparsecore.nn.losses import (
    MAE,
    MSE,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Loss,
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
    "Dense",
    "EarlyStopping",
    "History",
    "Identity",
    "Layer",
    "LeakyReLU",
    "Loss",
    "NonFiniteLossError",
    "Optimizer",
    "ProgressLogger",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "TerminateOnNaN",
    "check_layer",
    "check_loss",
    "check_model",
]
