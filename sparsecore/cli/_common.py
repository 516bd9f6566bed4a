"""What every ``sparsecore`` command shares: errors, argument types, output, files.

A :class:`CLIError` is a user error: :func:`sparsecore.cli.main` prints it as
one line and exits with code 1. The argument types raise
:class:`argparse.ArgumentTypeError`, which argparse turns into a one-line
usage error (exit code 2).

Every input file goes through the defensive reader
(:mod:`sparsecore.runtime.npz`, via :func:`open_archive` and
:func:`read_archive`), with two opt-ins for weights exported by other tools:
Fortran-ordered arrays are read, and members that are not ``.npy`` (a
``config.json``) are kept as bytes, which ``prune`` copies to its output
byte for byte. Every output is checked first (:func:`check_output_path`) and
written by the safe writer (:mod:`sparsecore.runtime.atomic`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np

from sparsecore.runtime.npz import NpzArchive, SparseFormatError, open_npz

__all__ = [
    "PROG",
    "Archive",
    "CLIError",
    "Parser",
    "Terminated",
    "check_input_file",
    "check_output_path",
    "header_format",
    "is_sparse_model",
    "open_archive",
    "parse_int_at_least",
    "parse_list",
    "parse_pair",
    "parse_sparsity",
    "read_archive",
    "same_file",
    "say",
    "shape_str",
    "sparsity_of",
]

PROG = "sparsecore"


class CLIError(Exception):
    """A user error: printed as one line, exit code 1."""


class Terminated(BaseException):
    """SIGTERM arrived: raised in the main thread so that every cleanup runs.

    A BaseException, as KeyboardInterrupt, so that no ``except Exception``
    swallows it; :func:`sparsecore.cli.main` reports it and exits with 143.
    """


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
#: The largest JSON ``header`` member the commands read to recognise a
#: sparsecore file (a checkpoint's header is at most this long, too).
_MAX_HEADER_CHARS = 1 << 24


@dataclass
class Archive:
    """What ``sparsecore`` read from an ``.npz``: its arrays and other members.

    Attributes
    ----------
    path : str
    arrays : dict of str to ndarray
        Every ``.npy`` member (name without ``.npy``), in file order.
    files : dict of str to bytes
        Every other member (a ``config.json``, ...), byte for byte.
    format : tuple (str, object) or None
        ``(format, version)`` of a sparsecore file's JSON header.
    """

    path: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    format: tuple[str, Any] | None = None


def check_input_file(path: str) -> None:
    """Raise :class:`CLIError` unless `path` names an existing regular file."""
    if not path:
        raise CLIError("the input file name is empty")
    if not os.path.lexists(path):
        raise CLIError(f"no such file: {path!r}")
    if os.path.isdir(path):
        raise CLIError(f"{path!r} is a directory, not an .npz file")


def check_output_path(path: str) -> None:
    """Raise :class:`CLIError` unless `path` can be written (before any work).

    The folder must exist, and an existing `path` must be a regular file (or
    a link to one): a directory, FIFO or device is never replaced.
    """
    if not path:
        raise CLIError("the output file name is empty")
    target = os.path.realpath(path)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        given = os.path.dirname(path) or "."
        raise CLIError(f"cannot write {path!r}: folder {given!r} does not exist")
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return
    except OSError as e:
        raise CLIError(f"cannot write {path!r}: {e.strerror}") from None
    if stat.S_ISDIR(mode):
        raise CLIError(f"cannot write {path!r}: it is a directory")
    if not stat.S_ISREG(mode):
        raise CLIError(
            f"cannot write {path!r}: it is not a regular file (a device, FIFO or "
            "socket); sparsecore only replaces regular files"
        )


def same_file(a: str, b: str) -> bool:
    """Whether paths `a` and `b` name the same existing file (links included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@contextlib.contextmanager
def open_archive(path: str) -> Iterator[NpzArchive]:
    """`path` opened with the defensive reader, for any ``.npz`` of weights.

    Fortran-ordered arrays (which exported weights contain) and members that
    are not ``.npy`` are accepted; every size, header and stream is checked
    as for sparsecore's own files (:mod:`sparsecore.runtime.npz`). Every
    problem becomes a :class:`CLIError` naming the file.
    """
    check_input_file(path)
    try:
        with open_npz(
            path, SparseFormatError, allow_fortran=True, allow_other=True
        ) as archive:
            yield archive
    except SparseFormatError as e:
        raise CLIError(_reason(str(e))) from None
    except FileNotFoundError:
        raise CLIError(f"no such file: {path!r}") from None
    except PermissionError:
        raise CLIError(f"cannot read {path!r}: permission denied") from None


def _reason(message: str) -> str:
    return message.replace(
        "not a readable .npz archive", "not an .npz file (not a readable zip archive)"
    )


def header_format(archive: NpzArchive) -> tuple[str, Any] | None:
    """``(format, version)`` from a sparsecore JSON ``header`` member, if any.

    Saved SparseModels say ``"sparsecore.SparseModel"``, checkpoints
    ``"sparsecore.Checkpoint"``; a plain weights file has no such header (or
    one that is not a 0-d string of JSON: then it is just an array).
    """
    if "header" not in archive.members:
        return None
    shape, dtype = archive.peek("header")
    if shape != () or dtype.kind != "U":
        return None
    try:
        meta = archive.read_json("header", _MAX_HEADER_CHARS)
    except SparseFormatError:
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("format"), str):
        return None
    return meta["format"], meta.get("version")


def read_archive(path: str) -> Archive:
    """Read every member of an ``.npz`` into memory, never unpickling.

    Arrays through the defensive reader (:func:`open_archive`); other members
    byte for byte. The memory used is at most what the members declare, which
    the reader bounds by 1032 times the file's size.
    """
    out = Archive(path)
    with open_archive(path) as archive:
        try:
            out.format = header_format(archive)
            for key, is_npy in archive.order:
                if is_npy:
                    out.arrays[key] = archive.read_array(key)
                else:
                    out.files[key] = archive.read_bytes(key)
        except SparseFormatError as e:
            raise CLIError(_reason(str(e))) from None
    if not out.arrays and not out.files:
        raise CLIError(f"{path}: the .npz file holds no arrays")
    return out


def is_sparse_model(fmt: tuple[str, Any] | None) -> bool:
    """Whether a header format (:func:`header_format`) is a saved SparseModel."""
    from sparsecore.runtime.io import FORMAT_NAME

    return fmt is not None and fmt[0] == FORMAT_NAME
