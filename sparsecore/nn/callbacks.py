"""Training callbacks: the hooks ``Sequential.fit`` calls, and the stock ones.

One training step inside ``fit`` runs, in order::

    on_train_batch_begin(batch)      # a Pruner advances its step and masks here
    forward -> loss -> backward
    on_before_optimizer_step()       # gradients exist and may be changed in place
    optimizer.apply(weights, grads)
    on_after_optimizer_step()        # weights and optimizer state may be changed
    on_train_batch_end(batch, {"loss": ...})

``on_epoch_end(epoch, logs)`` receives ``logs`` with ``"loss"``, each compiled
metric (``"accuracy"``, ...) and, with validation data, ``"val_loss"`` and
``"val_<metric>"``; ``on_train_batch_end`` gets the batch's loss and metrics.
User callbacks run first and may add keys, then
:class:`History` records them all, then the progress display prints them.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

import numpy as np

from sparsecore._checks import (
    validate_bool,
    validate_choice,
    validate_float,
    validate_int,
    validate_type,
)
from sparsecore.nn.metrics import metric_direction

__all__ = [
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "ProgressLogger",
    "TerminateOnNaN",
]

Logs = dict[str, Any]


class Callback:
    """Base class; every hook does nothing by default.

    Attributes
    ----------
    model : Sequential or None
        Set by ``fit`` through :meth:`set_model`.
    params : dict
        ``{"epochs", "initial_epoch", "steps", "batch_size", "samples", "verbose"}``,
        set by ``fit`` through :meth:`set_params`. ``steps`` is batches per epoch.
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: Logs | None = None) -> None: ...
    def on_train_end(self, logs: Logs | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_before_optimizer_step(self) -> None: ...
    def on_after_optimizer_step(self) -> None: ...


class CallbackList:
    """Calls each hook on every callback, in list order."""

    def __init__(self, callbacks: Iterable[Callback]) -> None:
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback instances; got {cb!r}")

    def set_model(self, model: Any) -> None:
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.set_params(params)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_batch_end(batch, logs)

    def on_before_optimizer_step(self) -> None:
        for cb in self.callbacks:
            cb.on_before_optimizer_step()

    def on_after_optimizer_step(self) -> None:
        for cb in self.callbacks:
            cb.on_after_optimizer_step()


class History(Callback):
    """Records every epoch's logs: ``history.history["loss"][i]`` is a float.

    Attributes
    ----------
    history : dict of str to list of float
    epoch : list of int
        The epoch index of each record (continues from ``initial_epoch``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))


class ProgressLogger(Callback):
    """Prints one line per epoch, like Keras with ``verbose=2``.

    Example: ``Epoch 3/200 - 1.02s - loss: 0.0412 - val_loss: 0.0398``.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self.stream = stream
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        seconds = time.perf_counter() - self._start
        parts = [
            f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}",
            f"{seconds:.2f}s",
        ]
        parts += [f"{k}: {v:.4g}" for k, v in (logs or {}).items()]
        print(" - ".join(parts), file=self.stream or sys.stdout, flush=True)


class EarlyStopping(Callback):
    """Stops training when a monitored value has stopped improving.

    Parameters
    ----------
    monitor : str, default='val_loss'
        Key of the epoch logs.
    min_delta : float, default=0.0
        An improvement must exceed this.
    patience : int, default=0
        Epochs without improvement before stopping.
    mode : {'auto', 'min', 'max'}, default='auto'
        Whether the value should fall or rise. ``'auto'`` infers it from the
        name: the built-in metrics by what they measure (accuracies rise;
        ``"loss"``, ``"mse"``, ``"mae"`` fall, with or without ``"val_"``), any
        other key rises if it contains ``"acc"`` and falls otherwise (tf.keras'
        rule; Keras 3 refuses unknown keys instead).
    restore_best_weights : bool, default=False
        Copy the best epoch's weights back into the model when stopping.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        mode: str = "auto",
        restore_best_weights: bool = False,
    ) -> None:
        super().__init__()
        self.monitor = validate_type("monitor", monitor, str, "a str")
        self.min_delta = validate_float("min_delta", min_delta, 0.0)
        self.patience = validate_int("patience", patience, 0)
        self.mode = validate_choice("mode", mode, ("auto", "min", "max"))
        direction = self.mode
        if direction == "auto":
            direction = metric_direction(monitor) or (
                "max" if "acc" in monitor else "min"
            )
        # +1: lower is better; -1: higher is better (values are compared negated)
        self._sign = 1.0 if direction == "min" else -1.0
        self.restore_best_weights = validate_bool(
            "restore_best_weights", restore_best_weights
        )
        self.best = math.inf
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_weights: list[np.ndarray] | None = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.best, self.wait, self.stopped_epoch = math.inf, 0, None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if not logs or self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping monitor {self.monitor!r} is not in the epoch logs; "
                f"available: {sorted(logs or {})}"
            )
        value = self._sign * float(logs[self.monitor])
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_weights = [w.copy() for w in self.model.get_weights()]
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.model.set_weights(self.best_weights)


class TerminateOnNaN(Callback):
    """Stops training (without raising) when a batch loss is NaN or infinite.

    ``fit`` already raises on a non-finite loss by default (``check_finite=True``);
    this callback is for runs with that check switched off, as in Keras.
    """

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.model.stop_training = True
