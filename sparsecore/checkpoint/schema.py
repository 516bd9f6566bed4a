"""The checkpoint format: its name, version, layout and the classes it can rebuild.

``model.save(path)`` (or :func:`save_model`) writes, and :func:`load_model`
reads back, everything ``fit`` needs to continue exactly where it stopped:
the architecture, the weights, the loss and optimizer (with its step count and
slot arrays), the shuffling seed, the epoch reached, the history, when a
pruner is attached (``model.pruner``) its step, schedule and masks, and the
state of the callbacks that steer a run (``model.callback_states``:
EarlyStopping, ModelCheckpoint, RigL, SET). Training ``2N`` epochs in one go,
or ``N`` epochs, save, load (in another process) and
``fit(..., initial_epoch=model.epoch)`` for ``N`` more, gives identical
weights, masks and history.

Layout, version 2 (every member a plain ``.npy``; nothing is pickled)::

    header                    0-d str array: the JSON below
    weights/<name>            each array of model.weights(): weights/dense_0/kernel, ...
    optimizer/<name>/<slot>   optimizer slots ("momentum"; "m", "v"), the weight's shape
    pruner/masks/<name>       bool masks of the attached pruner
    callbacks/<i>/best_weights/<name>   EarlyStopping's best weights (if kept)
    callbacks/<i>/best_masks/<name>     and the pruner's masks of that epoch
    callbacks/<i>/masks/<name>          RigL's or SET's current bool masks

    {"format": "sparsecore.Checkpoint", "version": 2,
     "model": model.get_config(),
     "compile": null | {"loss": {"class_name", "config"},
                        "optimizer": {"class_name", "config", "iterations"},
                        "metrics": [name, ...]   (only when compiled with metrics)},
     "fit_seed": null | int, "epoch": int,
     "history": null | {"epoch": [int, ...], "history": {key: [float, ...]}},
     "pruner": null | {"class_name": "Pruner", "state": {...}, "masks": [name, ...]},
     "callbacks": [{"key", "class_name": "EarlyStopping", "config", "best", "wait",
                    "best_epoch", "stopped", "best_weights": bool,
                    "best_masks": null | [name, ...]}
                   | {"key", "class_name": "ModelCheckpoint", "config", "best"}
                   | {"key", "class_name": "RigL" | "SET", "config", "step",
                      "end_step", "updates": [[step, fraction], ...],
                      "masks": [name, ...]}, ...]}

Version 1 is version 2 without ``"callbacks"``; both are read (the RigL and
SET entries came later within version 2: a file without them is a file of a
run without them). Weights are saved as 0 where the pruner's masks prune them,
and a file where they are not is refused. A RigL or SET state is saved only if
the weights are 0 where its masks prune them (what the callback leaves after
every step; otherwise something changed the weights since, and the state is
left out with a :class:`RuntimeWarning`); a file where they are not is
refused too. Nothing non-finite is saved (:func:`save_model` refuses,
:class:`ModelCheckpoint` keeps the previous file).

An optimizer whose learning rate is a schedule holds it in its config as
``"learning_rate": {"class_name", "config"}`` (one of
:data:`SCHEDULE_CLASSES`); the schedule is a function of the step, so the saved
``iterations`` resume it exactly. Metrics are saved by name (a metric given as a
function cannot be checkpointed).

Files are written atomically (:func:`sparsecore.runtime.atomic_savez`): an
interrupted save leaves the previous file as it was. Reading validates
everything before building anything (see :mod:`sparsecore.runtime.npz`) and
raises :class:`CheckpointFormatError` for any problem. The writer
(:mod:`sparsecore.checkpoint.write`) and the reader
(:mod:`sparsecore.checkpoint.read`) both take their constants from here;
neither imports the other.
"""

from __future__ import annotations

import json
from typing import Any

from sparsecore.nn.layers import Layer
from sparsecore.nn.learning_rate import LEARNING_RATE_SCHEDULES, LearningRateSchedule
from sparsecore.nn.losses import LOSSES, Loss
from sparsecore.nn.metrics import METRICS
from sparsecore.nn.model import LAYERS
from sparsecore.nn.optimizers import OPTIMIZERS, Optimizer
from sparsecore.prune.pruner import Pruner
from sparsecore.runtime.npz import SparseFormatError

__all__ = [
    "CALLBACK_NAMES",
    "DYNAMIC_CALLBACK_NAMES",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "READ_VERSIONS",
    "LAYER_CLASSES",
    "LOSS_CLASSES",
    "METRIC_NAMES",
    "OPTIMIZER_CLASSES",
    "PRUNER_CLASSES",
    "SCHEDULE_CLASSES",
    "CheckpointFormatError",
    "canonical",
]

FORMAT_NAME = "sparsecore.Checkpoint"
FORMAT_VERSION = 2
#: The versions this sparsecore reads (1: no callback states).
READ_VERSIONS = (1, 2)
#: The callbacks whose state a checkpoint keeps (``model.callback_states``).
CALLBACK_NAMES = ("EarlyStopping", "ModelCheckpoint", "RigL", "SET")
#: Those of :data:`CALLBACK_NAMES` that hold dynamic masks (``callbacks/<i>/masks``).
DYNAMIC_CALLBACK_NAMES = ("RigL", "SET")

#: The classes a checkpoint rebuilds, by class name; nothing else is saved.
LAYER_CLASSES: dict[str, type[Layer]] = dict(LAYERS)
LOSS_CLASSES: dict[str, type[Loss]] = {c.__name__: c for c in LOSSES.values()}
OPTIMIZER_CLASSES: dict[str, type[Optimizer]] = {
    c.__name__: c for c in OPTIMIZERS.values()
}
PRUNER_CLASSES: dict[str, type[Pruner]] = {"Pruner": Pruner}
SCHEDULE_CLASSES: dict[str, type[LearningRateSchedule]] = dict(LEARNING_RATE_SCHEDULES)
#: The metric names a checkpoint stores (the keys of ``compile(metrics=[...])``).
METRIC_NAMES: frozenset[str] = frozenset(METRICS)


class CheckpointFormatError(SparseFormatError):
    """A file is not a valid sparsecore checkpoint.

    A :class:`~sparsecore.runtime.SparseFormatError` (so a :class:`ValueError`);
    the message names the file, the field and the problem.
    """


def canonical(value: Any) -> str:
    """JSON text with sorted keys: equal configs give equal strings."""
    return json.dumps(value, sort_keys=True)
