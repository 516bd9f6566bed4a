"""ModelCheckpoint: the callback that saves a checkpoint while ``fit`` runs."""

from __future__ import annotations

import math
import os
import string
import warnings
from typing import Any

from sparsecore._checks import (
    validate_bool,
    validate_choice,
    validate_int,
    validate_type,
)
from sparsecore.checkpoint.write import checkpoint_arrays, nonfinite_members
from sparsecore.nn.callbacks import Callback
from sparsecore.nn.metrics import resolve_mode
from sparsecore.runtime.atomic import atomic_savez

__all__ = ["ModelCheckpoint"]


class ModelCheckpoint(Callback):
    """Save a checkpoint during ``fit``, every `every` epochs and at the end.

    Parameters
    ----------
    filepath : str or path-like
        Where to write. May hold ``{epoch}`` (1-based, as Keras) and keys of
        the epoch logs, e.g. ``"ckpt-{epoch:03d}-{val_loss:.4f}.npz"``; a fixed
        name is overwritten (atomically) each time. Missing folders are made.
    every : int, default=1
        Save after epochs ``every``, ``2 * every``, ... (counted from 1) and
        after the last epoch ``fit`` runs (also when stopped early).
    save_best_only : bool, default=False
        Only save when `monitor` improved on the best value saved so far (and
        then not at the end unless it improved).
    monitor : str, default='val_loss'
        Log key compared by `save_best_only`.
    mode : {'auto', 'min', 'max'}, default='auto'
        Whether `monitor` should fall or rise. ``'auto'`` infers it from the
        name as :class:`~sparsecore.nn.callbacks.EarlyStopping` does
        (:func:`sparsecore.nn.metrics.resolve_mode`: accuracies rise,
        losses and errors fall; any other key rises if it contains ``"acc"``).
    compressed : bool, default=False
        Deflate the members.
    verbose : int, default=0
        1 prints a line per save.

    Attributes
    ----------
    last_path : str or None
        The file written last.
    best : float
        Best `monitor` value seen (``save_best_only``).

    Notes
    -----
    The save for epoch ``e`` happens once every callback has seen the end of
    ``e`` (at the start of epoch ``e + 1``, or at the end of ``fit``), so its
    place in the callback list does not matter and the checkpoint holds the
    logs other callbacks add (a Pruner's ``"sparsity"``). The saved history
    is ``model.history``: every epoch of every ``fit`` (and of the run a
    loaded checkpoint continues).

    A checkpoint is never written with NaN or infinite weights or optimizer
    state (possible only with ``fit(check_finite=False)``): that save is
    skipped with a :class:`RuntimeWarning` and the previous file kept.

    The best value (``save_best_only``) is kept in ``model.callback_states``,
    so in the checkpoint: a resumed run (``initial_epoch == model.epoch``)
    with a ModelCheckpoint of the same configuration replaces the best file
    only with a better epoch.
    """

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        every: int = 1,
        save_best_only: bool = False,
        monitor: str = "val_loss",
        mode: str = "auto",
        compressed: bool = False,
        verbose: int = 0,
    ) -> None:
        super().__init__()
        filepath = os.fspath(filepath)
        if not isinstance(filepath, str):
            raise TypeError(f"filepath must be a str or path-like; got {filepath!r}")
        try:
            list(string.Formatter().parse(filepath))
        except ValueError as e:
            raise ValueError(
                f"filepath must be a valid format string; got {filepath!r} ({e})"
            ) from None
        every = validate_int("every", every, 1)
        validate_choice("mode", mode, ("auto", "min", "max"))
        validate_type("monitor", monitor, str, "a str")
        validate_bool("save_best_only", save_best_only)
        validate_bool("compressed", compressed)
        self.filepath, self.every, self.save_best_only = filepath, every, save_best_only
        self.monitor, self.mode, self.compressed = monitor, mode, compressed
        self.verbose = verbose
        #: 'min' or 'max': the direction `mode` resolves to.
        self.direction = direction = resolve_mode(mode, monitor)
        self.best = math.inf if direction == "min" else -math.inf
        self.last_path: str | None = None
        self._pending: tuple[int, dict[str, Any]] | None = None
        self._last: tuple[int, dict[str, Any]] | None = None
        self._saved_epoch: int | None = None

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable)."""
        return {
            "filepath": self.filepath,
            "every": self.every,
            "save_best_only": self.save_best_only,
            "monitor": self.monitor,
            "mode": self.mode,
            "compressed": self.compressed,
            "verbose": self.verbose,
        }

    @property
    def state_key(self) -> str:
        """This callback's key in ``model.callback_states``."""
        return f"ModelCheckpoint:{self.filepath}"

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs: the configuration and the best value."""
        return {
            "class_name": "ModelCheckpoint",
            "config": self.get_config(),
            "best": self.best,
        }

    def _publish(self) -> None:
        states = getattr(self.model, "callback_states", None)
        if isinstance(states, dict):
            states[self.state_key] = self.state_dict()

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._pending = self._last = None
        self._saved_epoch = None
        states = getattr(self.model, "callback_states", None) or {}
        saved = states.get(self.state_key)
        start = self.params.get("initial_epoch", 0)
        if (
            saved is not None
            and start > 0
            and start == getattr(self.model, "epoch", None)
            and saved.get("config") == self.get_config()
        ):
            best = float(saved["best"])
            better = best < self.best if self.direction == "min" else best > self.best
            if better:
                self.best = best
        self._publish()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        self._last = (epoch, logs)  # the same dict later callbacks add keys to
        if (epoch + 1) % self.every == 0:
            self._pending = (epoch, logs)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._flush()
        if self._last is not None and self._saved_epoch != self._last[0]:
            self._pending = self._last
            self._flush()

    def _flush(self) -> None:
        if self._pending is None:
            return
        epoch, logs = self._pending
        self._pending = None
        previous_best = self.best
        if self.save_best_only:
            if self.monitor not in logs:
                raise ValueError(
                    f"ModelCheckpoint monitor {self.monitor!r} is not in the epoch "
                    f"logs; available: {sorted(logs)}"
                )
            value = float(logs[self.monitor])
            better = value < self.best if self.direction == "min" else value > self.best
            if not better:
                return
            self.best = value
            self._publish()  # the checkpoint holds the new best
        try:
            path = self.filepath.format(**{**logs, "epoch": epoch + 1})
        except (KeyError, IndexError, ValueError, AttributeError) as e:
            raise ValueError(
                f"filepath {self.filepath!r} cannot be formatted with epoch and the "
                f"logs {sorted(logs)} ({type(e).__name__}: {e})"
            ) from None
        arrays = checkpoint_arrays(self.model)
        bad = nonfinite_members(arrays)
        if bad:
            self.best = previous_best
            self._publish()
            warnings.warn(
                f"epoch {epoch + 1}: {bad[0]} ({len(bad)} array(s) in all) holds "
                f"NaN or inf; checkpoint {path!r} not written (the previous file "
                "is kept)",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        atomic_savez(path, arrays, compressed=self.compressed)
        self.last_path, self._saved_epoch = path, epoch
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved checkpoint {path}", flush=True)
