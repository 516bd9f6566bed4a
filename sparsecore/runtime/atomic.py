"""The safe writer: every file sparsecore writes is replaced atomically.

:func:`atomic_write` sends the bytes to a temporary file in the destination
folder, flushes and ``fsync``-s them, then renames the temporary file over
the destination with :func:`os.replace`. A reader therefore sees either the
old file or the complete new one, never a torn write. :func:`atomic_savez`
writes an ``.npz`` of arrays (what :func:`numpy.savez` writes, never pickled)
through it. Sparse models (:mod:`sparsecore.runtime.io`), checkpoints,
results, plots and the command line's outputs all use them.

What else the writer guarantees:

- **No temporary file is left behind** by an exception, Ctrl-C or SIGTERM:
  while a write runs in the main thread and SIGTERM has its default action,
  SIGTERM raises inside the write, the temporary file is removed, and the
  process then terminates by SIGTERM as it would have. A process killed
  with SIGKILL cannot clean up: its temporary file
  (``.<name>.<pid>-<random>.tmp``) is removed by the next save of the same
  target, once that process is gone (or, for names without a process id,
  after a day).
- **The target's permissions are kept**: replacing a ``0600`` file gives a
  ``0600`` file (and its content is never more readable while being
  written). A new file gets ``0666`` minus the umask, as with ``open``.
- **Only regular files are replaced**: a directory, FIFO, device or socket
  at the target is refused (``/dev/null`` stays a device). A symbolic link
  is followed: its target is replaced atomically and the link kept.
- **Errors name the path the caller gave**, never the temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import signal
import stat
import threading
import time
import zipfile
from collections.abc import Iterator, Mapping
from typing import IO, Any

import numpy as np

__all__ = ["atomic_savez", "atomic_write"]

#: A temporary file whose writer cannot be asked (no process id in its name,
#: or not on this platform) is stale after this many seconds without a write.
_STALE_AGE = 24 * 3600
_TMP_MIDDLE = re.compile(r"(?:(?P<pid>[0-9]{1,10})-)?[0-9a-f]{12}")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
_LIVE: set[str] = set()  # temporary files this process is writing right now
_LIVE_LOCK = threading.Lock()
_KINDS = (
    (stat.S_ISFIFO, "FIFO (named pipe)"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)


class _Terminated(BaseException):
    """SIGTERM arrived during a write (raised so that the cleanup runs)."""


@contextlib.contextmanager
def _sigterm_cleans_up() -> Iterator[None]:
    """Turn SIGTERM into an exception for the duration, then die by it.

    Only where Python may install handlers (the main thread) and only when
    SIGTERM has its default action: a program with its own handler keeps it.
    """
    sig = getattr(signal, "SIGTERM", None)
    if (
        sig is None
        or threading.current_thread() is not threading.main_thread()
        or signal.getsignal(sig) is not signal.SIG_DFL
    ):
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise _Terminated(signum)

    signal.signal(sig, handler)
    try:
        yield
    except _Terminated:
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)  # terminate by SIGTERM, as without us
        raise SystemExit(128 + sig) from None  # only if SIGTERM is blocked
    finally:
        signal.signal(sig, signal.SIG_DFL)


def _tmp_path(path: str) -> str:
    folder, name = os.path.split(path)
    token = secrets.token_hex(6)
    return os.path.join(folder, f".{name}.{os.getpid()}-{token}.tmp")


def _alive(pid: int) -> bool:
    """Whether process `pid` exists (POSIX; elsewhere: assume it does)."""
    if os.name != "posix":
        return True  # os.kill on Windows would terminate it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True


def _remove_stale(folder: str, name: str) -> None:
    """Remove temporary files of earlier saves of `name` whose writer is gone."""
    prefix = f".{name}."
    now = time.time()
    try:
        entries = os.scandir(folder or ".")
    except OSError:
        return
    with entries:
        for entry in entries:
            n = entry.name
            if not (n.startswith(prefix) and n.endswith(".tmp")):
                continue
            m = _TMP_MIDDLE.fullmatch(n[len(prefix) : -len(".tmp")])
            with _LIVE_LOCK:
                live = entry.path in _LIVE
            if m is None or live:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            pid = m.group("pid")
            old = now - st.st_mtime > _STALE_AGE
            gone = (
                pid is not None
                and os.name == "posix"
                and (int(pid) == os.getpid() or not _alive(int(pid)))
            )
            if gone or old:
                with contextlib.suppress(OSError):
                    os.remove(entry.path)


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


def _existing_target(target: str, path: str) -> os.stat_result | None:
    """The stat of the file to replace (None if there is none); refuse non-files."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise _as_user_error(e, path) from None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", path)
    if not stat.S_ISREG(st.st_mode):
        kind = next((k for test, k in _KINDS if test(st.st_mode)), "special file")
        raise OSError(
            errno.EINVAL,
            f"is a {kind}, not a regular file; refusing to replace it",
            path,
        )
    return st


def _as_user_error(e: OSError, path: str) -> OSError:
    """`e` naming `path` (the caller's) instead of a temporary file."""
    if e.errno is None:
        return e
    return type(e)(e.errno, e.strerror, path)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Open a binary file that atomically replaces ``path`` when closed.

    Parameters
    ----------
    path : str or path-like
        Destination. Its folder must exist. The name is used exactly as given
        (no extension is added). A symbolic link is followed (its target is
        replaced, the link kept).

    Yields
    ------
    file : binary file object
        Write the content to it. On a normal exit of the ``with`` block the
        data are flushed, ``fsync``-ed and renamed over ``path``; if the block
        raises (or the process gets SIGTERM, see the module notes), the
        temporary file is removed and ``path`` is left untouched.

    Raises
    ------
    ValueError
        If `path` is empty.
    IsADirectoryError
        If `path` is a directory.
    OSError
        If `path` is a FIFO, device or socket, or anything fails while
        writing (disk full, permission denied, missing folder); the message
        names `path`.

    Notes
    -----
    The temporary file ``.<name>.<pid>-<random>.tmp`` is created in the
    destination folder (so that :func:`os.replace` is a same-filesystem
    rename). It gets the mode of the file it replaces, or ``0o666`` minus the
    process umask for a new file, like a file opened with ``open``.

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
    if not path:
        raise ValueError("path must be a non-empty path; got ''")
    target = os.path.realpath(path)  # through symbolic links
    existing = _existing_target(target, path)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            errno.ENOENT,
            f"folder {os.path.dirname(path) or '.'!r} does not exist",
            path,
        )
    _remove_stale(folder, os.path.basename(target))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    # An existing file's content stays as private while it is rewritten.
    mode = 0o600 if existing is not None else 0o666
    with _sigterm_cleans_up():
        tmp: str | None = None
        fd = -1
        try:
            # Everything from choosing the name on is inside this try, so
            # that an interrupt at any point removes the file.
            while True:
                tmp = _tmp_path(target)
                try:
                    fd = os.open(tmp, flags, mode)
                    break
                except FileExistsError:  # pragma: no cover - 48 random bits collided
                    tmp = None
            with _LIVE_LOCK:
                _LIVE.add(tmp)
            chmod = getattr(os, "fchmod", None)
            if existing is not None and chmod is not None:
                chmod(fd, stat.S_IMODE(existing.st_mode))
            f = os.fdopen(fd, "wb")
            fd = -1  # closed with f from now on
            with f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
            with _LIVE_LOCK:
                _LIVE.discard(tmp)
            tmp = None
        except BaseException as e:
            if fd >= 0:
                os.close(fd)
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.remove(tmp)
                with _LIVE_LOCK:
                    _LIVE.discard(tmp)
            if isinstance(e, OSError) and e.filename in (tmp, target, None):
                raise _as_user_error(e, path) from None
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


def _validate_files(files: Mapping[str, bytes] | None) -> dict[str, bytes]:
    if files is None:
        return {}
    if not isinstance(files, Mapping):
        raise TypeError(f"files must be a Mapping[str, bytes]; got {type(files)!r}")
    out: dict[str, bytes] = {}
    for name, data in files.items():
        if (
            not isinstance(name, str)
            or not name
            or name.startswith("/")
            or name.endswith(("/", ".npy"))
            or "\0" in name
        ):
            raise ValueError(
                "file member names must be non-empty str not starting with '/' "
                f"nor ending with '/' or '.npy'; got {name!r}"
            )
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"files[{name!r}] must be bytes; got {type(data)!r}")
        out[name] = bytes(data)
    return out


def atomic_savez(
    path: str | os.PathLike[str],
    arrays: Mapping[str, np.ndarray],
    *,
    compressed: bool = False,
    files: Mapping[str, bytes] | None = None,
) -> None:
    """Write arrays to an ``.npz`` archive, atomically.

    The archive is the one :func:`numpy.savez` writes (one ``<name>.npy``
    member per array) and is read back with ``np.load(path,
    allow_pickle=False)``. Its members are dated 1980-01-01 (the zip epoch),
    so the same arrays always give the same bytes.

    Parameters
    ----------
    path : str or path-like
        Destination, used exactly as given (unlike :func:`numpy.savez`, no
        ``.npz`` is appended). See :func:`atomic_write`.
    arrays : Mapping[str, ndarray]
        Name -> array. Names may contain ``/`` (e.g. ``"dense_0/kernel"``).
        Object arrays are refused, so the file never needs unpickling.
    compressed : bool, default=False
        Deflate the members (as :func:`numpy.savez_compressed`).
    files : Mapping[str, bytes], optional
        Other members, written byte for byte under their exact names (which
        must not end in ``.npy``), after the arrays: what ``sparsecore
        prune`` copies from its input (a ``config.json``, ...).

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
    extra = _validate_files(files)
    if not isinstance(compressed, bool):
        raise TypeError(f"compressed must be a bool; got {compressed!r}")
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED

    def member(name: str) -> zipfile.ZipInfo:
        # A fixed timestamp (the zip epoch): the same arrays give the same bytes.
        info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
        info.compress_type = method
        info.external_attr = 0o644 << 16
        return info

    with atomic_write(path) as f:
        with zipfile.ZipFile(f, mode="w", compression=method, allowZip64=True) as zf:
            for key, arr in checked.items():
                with zf.open(member(key + ".npy"), "w", force_zip64=True) as out:
                    np.lib.format.write_array(out, arr, allow_pickle=False)
            for name, data in extra.items():
                zf.writestr(member(name), data)
