"""What every ``sparsecore`` command shares: errors, argument types, output, files.

A :class:`CLIError` is a user error: :func:`sparsecore.cli.main` prints it as
one line and exits with code 1. The argument types raise
:class:`argparse.ArgumentTypeError`, which argparse turns into a one-line
usage error (exit code 2).

Every input file goes through a defensive reader: ``.npz`` archives through
:mod:`sparsecore.runtime.npz` (via :func:`open_archive` and
:func:`read_archive`), with two opt-ins for weights exported by other tools:
Fortran-ordered arrays are read, and members that are not ``.npy`` (a
``config.json``) are kept as bytes, which ``prune`` copies to its output
byte for byte; ``.safetensors`` files through
:mod:`sparsecore.runtime.safetensors` (recognised by their content, whatever
their name). Every output is checked first (:func:`check_output_path`) and
written by the safe writer (:mod:`sparsecore.runtime.atomic`); weights go to
``.npz`` or, for a name ending in ``.safetensors``, to ``.safetensors``
(:func:`write_weights`, with the ``safetensors`` package).
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

from sparsecore.runtime.npz import (
    NpzArchive,
    SparseFormatError,
    open_npz,
    open_regular_file,
    printable,
)
from sparsecore.runtime.safetensors import (
    SafetensorsFile,
    looks_like_safetensors,
    open_safetensors,
)

__all__ = [
    "PROG",
    "Archive",
    "CLIError",
    "Parser",
    "Terminated",
    "check_input_file",
    "check_output_path",
    "header_format",
    "is_checkpoint",
    "is_safetensors",
    "is_sparse_model",
    "open_archive",
    "open_safetensors_file",
    "parse_int_at_least",
    "parse_list",
    "parse_pair",
    "parse_sparsity",
    "read_archive",
    "same_file",
    "say",
    "shape_str",
    "sparsity_of",
    "write_weights",
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
    """An ArgumentParser whose errors are one ``sparsecore: error:`` line.

    Every error of the command, a sub-command's included, starts with the
    same prefix and points at the ``--help`` of the command that failed.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


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
    kind : {'npz', 'safetensors'}
    metadata : dict of str to str
        A ``.safetensors`` file's ``__metadata__``.
    dtypes : dict of str to str
        A ``.safetensors`` file's dtype per tensor (``"BF16"`` tensors are
        read as float32; a ``.safetensors`` output narrows them back).
    """

    path: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    format: tuple[str, Any] | None = None
    kind: str = "npz"
    metadata: dict[str, str] = field(default_factory=dict)
    dtypes: dict[str, str] = field(default_factory=dict)


def check_input_file(path: str) -> None:
    """Raise :class:`CLIError` unless `path` names an existing regular file."""
    if not path:
        raise CLIError("the input file name is empty")
    if not os.path.lexists(path):
        raise CLIError(f"no such file: {path!r}")
    if os.path.isdir(path):
        raise CLIError(f"{path!r} is a directory, not a weights file")


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


def is_safetensors(path: str) -> bool:
    """Whether `path` holds ``.safetensors`` (by content; else by its name).

    A zip archive is an ``.npz`` whatever its name; a file whose 9th byte is
    ``{`` (after the 8-byte header length) is ``.safetensors``; anything else
    by the name it was given (for the error message).
    """
    try:
        with open_regular_file(path, SparseFormatError) as (fid, _):
            head = fid.read(9)
    except (OSError, SparseFormatError):
        head = b""
    if head[:2] == b"PK":
        return False
    return looks_like_safetensors(head) or path.lower().endswith(".safetensors")


@contextlib.contextmanager
def open_safetensors_file(path: str) -> Iterator[SafetensorsFile]:
    """`path` opened with the defensive ``.safetensors`` reader.

    Every problem becomes a :class:`CLIError` naming the file.
    """
    check_input_file(path)
    try:
        with open_safetensors(path, SparseFormatError) as f:
            yield f
    except SparseFormatError as e:
        raise CLIError(str(e)) from None
    except FileNotFoundError:
        raise CLIError(f"no such file: {path!r}") from None
    except PermissionError:
        raise CLIError(f"cannot read {path!r}: permission denied") from None


def read_archive(path: str) -> Archive:
    """Read every array of an ``.npz`` or ``.safetensors`` file, never unpickling.

    Arrays through the defensive readers (:func:`open_archive`,
    :func:`open_safetensors_file`); other ``.npz`` members byte for byte. The
    memory used is at most what the members declare, which the readers bound
    by the file's size (1032 times it for deflated ``.npz`` members).
    """
    if is_safetensors(path):
        return _read_safetensors(path)
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


def _read_safetensors(path: str) -> Archive:
    out = Archive(path, kind="safetensors")
    with open_safetensors_file(path) as f:
        try:
            for name in f.tensors:
                out.arrays[name] = f.read(name)
        except SparseFormatError as e:
            raise CLIError(str(e)) from None
        out.metadata, out.dtypes = f.metadata, f.dtypes
    if not out.arrays:
        raise CLIError(f"{path}: the .safetensors file holds no tensors")
    return out


_SAFETENSORS_DTYPES = frozenset("?bBhHiIlLqQefd")  # numpy type chars it stores


def write_weights(
    path: str,
    arrays: dict[str, np.ndarray],
    *,
    files: dict[str, bytes] | None = None,
    metadata: dict[str, str] | None = None,
    dtypes: dict[str, str] | None = None,
    compressed: bool = False,
    kind: str | None = None,
) -> None:
    """Write arrays to `path`: ``.safetensors`` if its name says so, else ``.npz``.

    Parameters
    ----------
    path : str
    arrays : dict of str to ndarray
    files : dict of str to bytes, optional
        Other ``.npz`` members, byte for byte (a ``.safetensors`` file holds
        only tensors: a warning says they are not written).
    metadata : dict of str to str, optional
        A ``.safetensors`` file's ``__metadata__`` (dropped, with a warning,
        in an ``.npz``).
    dtypes : dict of str to str, optional
        The ``.safetensors`` dtype each array was read from: ``"BF16"``
        arrays are narrowed back (exactly: they hold bfloat16 values).
    compressed : bool, default=False
        Deflate the ``.npz`` members (``.safetensors`` is never compressed).
    kind : {'npz', 'safetensors'}, optional
        The format, whatever the name (default: from the name).

    Raises
    ------
    CLIError
        If the ``safetensors`` package is missing, or an array cannot be
        stored in ``.safetensors`` (strings, objects, complex numbers).
    """
    import warnings

    from sparsecore.runtime.atomic import atomic_savez, atomic_write

    if kind is None:
        kind = "safetensors" if path.lower().endswith(".safetensors") else "npz"
    if kind == "npz":
        if metadata:
            warnings.warn(
                f"the input's .safetensors metadata ({len(metadata)} keys) is not "
                f"written to {path} (an .npz holds arrays only)",
                UserWarning,
                stacklevel=2,
            )
        atomic_savez(path, arrays, compressed=compressed, files=files)
        return
    try:
        from safetensors.numpy import save
    except ImportError:
        raise CLIError(
            f"writing {path} needs the safetensors package: "
            'pip install "sparsecore[safetensors]"'
        ) from None
    tensors: dict[str, np.ndarray] = {}
    for name, a in arrays.items():
        if a.dtype.char not in _SAFETENSORS_DTYPES:
            raise CLIError(
                f"array {printable(name)!r} of dtype {a.dtype} cannot be stored in "
                f"a .safetensors file; write an .npz instead"
            )
        if (dtypes or {}).get(name) == "BF16":
            a = _to_bfloat16(a, path)
        tensors[name] = np.ascontiguousarray(a)
    if files:
        warnings.warn(
            f"{len(files)} member(s) that are not arrays ({', '.join(files)}) are "
            f"not written to {path} (a .safetensors file holds tensors only)",
            UserWarning,
            stacklevel=2,
        )
    blob = save(tensors, metadata=metadata or None)
    with atomic_write(path) as f:
        f.write(blob)


def _to_bfloat16(a: np.ndarray, path: str) -> np.ndarray:
    """A float32 array of bfloat16 values, as ``ml_dtypes.bfloat16``."""
    try:
        import ml_dtypes
    except ImportError:
        raise CLIError(
            f"writing bfloat16 tensors to {path} needs the ml_dtypes package: "
            'pip install "sparsecore[safetensors]"'
        ) from None
    out: np.ndarray = a.astype(ml_dtypes.bfloat16)
    return out


def is_sparse_model(fmt: tuple[str, Any] | None) -> bool:
    """Whether a header format (:func:`header_format`) is a saved SparseModel."""
    from sparsecore.runtime.io import FORMAT_NAME

    return fmt is not None and fmt[0] == FORMAT_NAME


def is_checkpoint(fmt: tuple[str, Any] | None) -> bool:
    """Whether a header format (:func:`header_format`) is a checkpoint."""
    from sparsecore.checkpoint.schema import FORMAT_NAME

    return fmt is not None and fmt[0] == FORMAT_NAME
