"""The safe writer: every file sparsecore writes is replaced atomically.

:func:`atomic_write` sends the bytes to a temporary file in the destination
folder, flushes and ``fsync``-s them, then renames the temporary file over
the destination with :func:`os.replace`. A reader therefore sees either the
old file or the complete new one, never a torn write, and a failure leaves no
temporary file behind. :func:`atomic_savez` writes an ``.npz`` of arrays
(what :func:`numpy.savez` writes, never pickled) through it. Sparse models
(:mod:`sparsecore.runtime.io`), checkpoints, results and plots all use them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import zipfile
from collections.abc import Iterator, Mapping
from typing import IO

import numpy as np

__all__ = ["atomic_savez", "atomic_write"]


def _tmp_path(path: str) -> str:
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")


def _fsync_dir(folder: str) -> None:
    # Make the rename itself durable. Not possible on every platform (Windows
    # cannot open a directory), so this is best effort.
    try:
        fd = os.open(folder or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Open a binary file that atomically replaces ``path`` when closed.

    Parameters
    ----------
    path : str or path-like
        Destination. Its folder must exist. The name is used exactly as given
        (no extension is added).

    Yields
    ------
    file : binary file object
        Write the content to it. On a normal exit of the ``with`` block the
        data are flushed, ``fsync``-ed and renamed over ``path``; if the block
        raises, the temporary file is removed and ``path`` is left untouched.

    Notes
    -----
    The temporary file ``.<name>.<random>.tmp`` is created in the destination
    folder (so that :func:`os.replace` is a same-filesystem rename) with mode
    ``0o666`` minus the process umask, like a file opened with ``open``.

    Examples
    --------
    >>> import json, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "meta.json")
    >>> with atomic_write(path) as f:
    ...     _ = f.write(json.dumps({"epoch": 3}).encode())
    >>> open(path).read()
    '{"epoch": 3}'
    """
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"path must be a str or os.PathLike[str]; got {path!r}")
    folder = os.path.dirname(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = _tmp_path(path)
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_dir(folder)


def _validate_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not isinstance(arrays, Mapping):
        raise TypeError(f"arrays must be a Mapping[str, ndarray]; got {type(arrays)!r}")
    out: dict[str, np.ndarray] = {}
    for key, value in arrays.items():
        if not isinstance(key, str) or not key or key.startswith("/") or "\0" in key:
            raise ValueError(
                f"array names must be non-empty str not starting with '/'; got {key!r}"
            )
        arr = np.asanyarray(value)
        if arr.dtype.hasobject:
            raise TypeError(
                f"arrays[{key!r}] must not have an object dtype; got {arr.dtype}"
            )
        out[key] = arr
    return out


def atomic_savez(
    path: str | os.PathLike[str],
    arrays: Mapping[str, np.ndarray],
    *,
    compressed: bool = False,
) -> None:
    """Write arrays to an ``.npz`` archive, atomically.

    The archive is the one :func:`numpy.savez` writes (one ``<name>.npy``
    member per array) and is read back with ``np.load(path,
    allow_pickle=False)``.

    Parameters
    ----------
    path : str or path-like
        Destination, used exactly as given (unlike :func:`numpy.savez`, no
        ``.npz`` is appended).
    arrays : Mapping[str, ndarray]
        Name -> array. Names may contain ``/`` (e.g. ``"dense_0/kernel"``).
        Object arrays are refused, so the file never needs unpickling.
    compressed : bool, default=False
        Deflate the members (as :func:`numpy.savez_compressed`).

    Raises
    ------
    TypeError
        If ``arrays`` is not a mapping or holds an object array.
    ValueError
        If a name is empty or starts with ``/``.

    See Also
    --------
    atomic_write : the underlying atomic file replacement.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "w.npz")
    >>> atomic_savez(path, {"dense_0/kernel": np.ones((2, 3), np.float32)})
    >>> with np.load(path, allow_pickle=False) as f:
    ...     f["dense_0/kernel"].shape
    (2, 3)
    """
    checked = _validate_arrays(arrays)
    if not isinstance(compressed, bool):
        raise TypeError(f"compressed must be a bool; got {compressed!r}")
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with atomic_write(path) as f:
        with zipfile.ZipFile(f, mode="w", compression=method, allowZip64=True) as zf:
            for key, arr in checked.items():
                with zf.open(key + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arr, allow_pickle=False)
