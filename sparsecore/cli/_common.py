"""What every ``sparsecore`` command shares: errors, argument types, output, files.

A :class:`CLIError` is a user error: :func:`sparsecore.cli.main` prints it as
one line and exits with code 1. The argument types raise
:class:`argparse.ArgumentTypeError`, which argparse turns into a one-line
usage error (exit code 2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

__all__ = [
    "PROG",
    "CLIError",
    "Parser",
    "archive_format",
    "check_input_file",
    "check_output_path",
    "is_sparse_model",
    "load_npz",
    "parse_int_at_least",
    "parse_list",
    "parse_pair",
    "parse_sparsity",
    "say",
    "shape_str",
    "sparsity_of",
]

PROG = "sparsecore"


class CLIError(Exception):
    """A user error: printed as one line, exit code 1."""


# ----------------------------------------------------------------------- argparse
class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and point at ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def parse_sparsity(text: str) -> float:
    """A sparsity: a float in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(
            f"sparsity must be a float in [0, 1); got {text!r}"
        )
    return value


def parse_int_at_least(low: int) -> Callable[[str], int]:
    """An argument type: an int in [low, inf)."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be an int in [{low}, inf); got {text!r}"
            ) from None
        if value < low:
            raise argparse.ArgumentTypeError(
                f"must be an int in [{low}, inf); got {text!r}"
            )
        return value

    return convert


def parse_pair(sep: str, what: str) -> Callable[[str], tuple[int, int]]:
    """An argument type: two ints separated by `sep` (``what`` names the form)."""

    def convert(text: str) -> tuple[int, int]:
        parts = text.lower().split(sep)
        try:
            a, b = (int(p) for p in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}") from None
        return a, b

    return convert


def parse_list(convert: Callable[[str], Any], what: str) -> Callable[[str], list[Any]]:
    """An argument type: a non-empty comma-separated list, each item `convert`-ed."""

    def parse(text: str) -> list[Any]:
        items = [t for t in text.replace(" ", "").split(",") if t]
        if not items:
            raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}")
        try:
            return [convert(t) for t in items]
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(
                f"must be {what}; got {text!r} ({exc})"
            ) from None

    return parse


# ----------------------------------------------------------------------- output
def say(text: str = "") -> None:
    """Print one line of a command's output (flushed: progress shows at once)."""
    print(text, file=sys.stdout, flush=True)


def sparsity_of(a: np.ndarray) -> float:
    """Fraction of zero entries of `a` (0.0 when empty)."""
    return 1.0 - np.count_nonzero(a) / a.size if a.size else 0.0


def shape_str(a: np.ndarray) -> str:
    """``"64x32"``, or ``"scalar"`` for a 0-d array."""
    return "x".join(str(d) for d in a.shape) if a.ndim else "scalar"


# ----------------------------------------------------------------------- files
def check_input_file(path: str) -> None:
    """Raise :class:`CLIError` unless `path` exists and is not a folder."""
    if not os.path.exists(path):
        raise CLIError(f"no such file: {path!r}")
    if os.path.isdir(path):
        raise CLIError(f"{path!r} is a directory, not an .npz file")


def check_output_path(path: str) -> None:
    """Raise :class:`CLIError` unless `path` can be written (before any work)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CLIError(f"cannot write {path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise CLIError(f"cannot write {path!r}: it is a directory")


def load_npz(path: str) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` into memory, never unpickling.

    Any problem becomes a :class:`CLIError` naming the file.
    """
    check_input_file(path)
    if not zipfile.is_zipfile(path):
        raise CLIError(f"{path}: not an .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: np.asarray(f[name]) for name in f.files}
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        reason = str(exc) or type(exc).__name__
        if "allow_pickle" in reason:
            reason = "it holds object arrays, which sparsecore never unpickles"
        raise CLIError(f"{path}: not a valid .npz file: {reason}") from None
    if not arrays:
        raise CLIError(f"{path}: the .npz file holds no arrays")
    return arrays


def archive_format(arrays: dict[str, np.ndarray]) -> tuple[str, Any] | None:
    """``(format, version)`` from a sparsecore JSON ``header`` member, if any.

    Saved SparseModels say ``"sparsecore.SparseModel"``, checkpoints
    ``"sparsecore.Checkpoint"``; a plain weights file has no such header.
    """
    header = arrays.get("header")
    if header is None or header.shape != () or header.dtype.kind != "U":
        return None
    try:
        meta = json.loads(str(header[()]))
    except ValueError:
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("format"), str):
        return None
    return meta["format"], meta.get("version")


def is_sparse_model(arrays: dict[str, np.ndarray]) -> bool:
    """Whether `arrays` (from :func:`load_npz`) is a saved SparseModel."""
    from sparsecore.runtime.io import FORMAT_NAME

    fmt = archive_format(arrays)
    return fmt is not None and fmt[0] == FORMAT_NAME
