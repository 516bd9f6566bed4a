"""Checkpoints: a whole training run in one ``.npz``, resumed bit for bit.

``model.save(path)`` (or :func:`save_model`) writes, and :func:`load_model`
reads back, everything ``fit`` needs to continue exactly where it stopped;
:class:`ModelCheckpoint` saves during ``fit``. The format (its layout and the
classes it rebuilds) is :mod:`~sparsecore.checkpoint.schema`; writing is
:mod:`~sparsecore.checkpoint.write`, reading
:mod:`~sparsecore.checkpoint.read`, the callback
:mod:`~sparsecore.checkpoint.callback`.
"""

from sparsecore.checkpoint.callback import ModelCheckpoint
from sparsecore.checkpoint.read import load_model
from sparsecore.checkpoint.schema import (
    FORMAT_NAME,
    FORMAT_VERSION,
    CheckpointFormatError,
)
from sparsecore.checkpoint.write import save_model

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "CheckpointFormatError",
    "ModelCheckpoint",
    "load_model",
    "save_model",
]
