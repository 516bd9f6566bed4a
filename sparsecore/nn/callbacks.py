"""Training callbacks: the hooks ``Sequential.fit`` calls, and the stock ones.

One training step inside ``fit`` runs, in order::

    on_train_batch_begin(batch)      # a Pruner advances its step and masks here
    forward -> loss -> backward
    on_before_optimizer_step()       # gradients exist and may be changed in place
    optimizer.apply(weights, grads)
    on_after_optimizer_step()        # weights and optimizer state may be changed
    on_train_batch_end(batch, {"loss": ...})

``on_train_end()`` runs when ``fit`` finishes (all epochs, or stopped); if
``fit`` raises instead, ``on_train_exception(exc)`` runs, then the error
propagates (``on_train_end`` does not run, as in Keras; Lightning's
``Callback.on_exception``).

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
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

import numpy as np

from sparsecore._checks import (
    validate_bool,
    validate_choice,
    validate_float,
    validate_int,
    validate_type,
)
from sparsecore.nn.metrics import resolve_mode

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
    def on_train_exception(self, exc: BaseException) -> None:
        """``fit`` is raising `exc`: undo what was set up for training."""


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

    def on_train_exception(self, exc: BaseException) -> None:
        for cb in self.callbacks:
            cb.on_train_exception(exc)


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
        Copy the best epoch's weights back into the model when stopping. With
        a pruner attached (``model.pruner``), its masks of that epoch are
        restored too, so that weights and masks stay a pair (the pruner's step
        and schedule are kept).

    Attributes
    ----------
    best : float
        Best monitored value so far, times -1 in mode 'max' (inf before any).
    wait : int
        Epochs since the best one.
    best_epoch, stopped_epoch : int or None
    best_weights : list of ndarray or None
        Copies of the weights at `best_epoch` (``restore_best_weights``).
    best_masks : dict of str to bool ndarray or None
        The pruner's masks at `best_epoch` (``restore_best_weights``).

    Notes
    -----
    The state (best value, wait, best epoch, best weights and masks) is put
    in ``model.callback_states`` after every epoch, so a checkpoint keeps it.
    A ``fit`` that continues a run (``initial_epoch == model.epoch > 0``, as
    after :func:`sparsecore.load_model`) with an EarlyStopping of the same
    configuration picks it up and stops where the uninterrupted run would. A
    run that stopped early is not continued: a later ``fit`` starts afresh.
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
        direction = resolve_mode(self.mode, monitor)
        # +1: lower is better; -1: higher is better (values are compared negated)
        self._sign = 1.0 if direction == "min" else -1.0
        self.restore_best_weights = validate_bool(
            "restore_best_weights", restore_best_weights
        )
        self.best = math.inf
        self.wait = 0
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.best_weights: list[np.ndarray] | None = None
        self.best_masks: dict[str, np.ndarray] | None = None

    # ------------------------------------------------------------------ state
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable)."""
        return {
            "monitor": self.monitor,
            "min_delta": self.min_delta,
            "patience": self.patience,
            "mode": self.mode,
            "restore_best_weights": self.restore_best_weights,
        }

    @property
    def state_key(self) -> str:
        """This callback's key in ``model.callback_states``."""
        return f"EarlyStopping:{self.monitor}:{self.mode}"

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs: config, best, wait, best weights and masks.

        The arrays are not copied (they are replaced, never changed in place).
        """
        return {
            "class_name": "EarlyStopping",
            "config": self.get_config(),
            "best": self.best,
            "wait": self.wait,
            "best_epoch": self.best_epoch,
            "stopped": self.stopped_epoch is not None,
            "best_weights": self.best_weights,
            "best_masks": self.best_masks,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the state :meth:`state_dict` gave (for this configuration)."""
        if state.get("config") != self.get_config():
            raise ValueError(
                f"the state is for EarlyStopping({state.get('config')!r}); this "
                f"one is EarlyStopping({self.get_config()!r})"
            )
        self.best = float(state["best"])
        self.wait = validate_int("state['wait']", state["wait"], 0)
        self.best_epoch = state["best_epoch"]
        self.best_weights = state["best_weights"]
        self.best_masks = state["best_masks"]

    def _publish(self) -> None:
        states = getattr(self.model, "callback_states", None)
        if isinstance(states, dict):
            states[self.state_key] = self.state_dict()

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs: Logs | None = None) -> None:
        states = getattr(self.model, "callback_states", None) or {}
        saved = states.get(self.state_key)
        start = self.params.get("initial_epoch", 0)
        continues = (
            saved is not None
            and start > 0
            and start == getattr(self.model, "epoch", None)
            and not saved.get("stopped")
            and saved.get("config") == self.get_config()
        )
        if saved is not None and continues:
            self.load_state_dict(saved)
        else:
            self.best, self.wait, self.best_epoch = math.inf, 0, None
            self.best_weights = self.best_masks = None
        self.stopped_epoch = None
        self._publish()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if not logs or self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping monitor {self.monitor!r} is not in the epoch logs; "
                f"available: {sorted(logs or {})}"
            )
        value = self._sign * float(logs[self.monitor])
        if value < self.best - self.min_delta:
            self.best, self.wait, self.best_epoch = value, 0, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()  # copies
                self.best_masks = self._pruner_masks()
        else:
            self.wait += 1
            if self.wait > self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                if self.restore_best_weights and self.best_weights is not None:
                    self.model.set_weights(self.best_weights)
                    self._restore_masks()
        self._publish()

    def _pruner_masks(self) -> dict[str, np.ndarray] | None:
        # By duck typing (nn does not import prune): a pruner's public state.
        pruner = getattr(self.model, "pruner", None)
        if pruner is None or not hasattr(pruner, "state_dict"):
            return None
        return dict(pruner.state_dict()["masks"])

    def _restore_masks(self) -> None:
        pruner = getattr(self.model, "pruner", None)
        if pruner is None or self.best_masks is None:
            return
        state = dict(pruner.state_dict())
        state["masks"] = self.best_masks  # the best epoch's; step and schedule kept
        pruner.load_state_dict(state)


class TerminateOnNaN(Callback):
    """Stops training (without raising) when a batch loss is NaN or infinite.

    ``fit`` already raises on a non-finite loss by default (``check_finite=True``);
    this callback is for runs with that check switched off, as in Keras.
    """

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.model.stop_training = True
