"""A defensive reader of ``.npz`` archives, for files that may be hostile.

Every size a file declares is checked against what the file can actually hold
before anything is allocated: a member's uncompressed size against its
compressed size (stored members: equal; deflated members: at most 1032 times,
the most DEFLATE can expand), its compressed size against the file's size, and
each array's ``.npy`` header (dtype, shape) against what the caller expects.
Only stored and deflated members are read; nothing is ever unpickled. Every
problem raises the caller's error class (a :class:`ValueError`) with
``"<file>: <field>: <problem>"``.
"""

from __future__ import annotations

import json
import math
import os
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, NoReturn

import numpy as np

__all__ = ["Archive", "open_archive"]

#: What reading a malformed zip or .npy member can raise (beyond ValueError).
READ_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    ValueError,
    TypeError,
    OverflowError,
    NotImplementedError,
    RecursionError,
    SyntaxError,  # numpy tokenizes .npy headers: IndentationError, ...
    tokenize.TokenError,  # ... and TokenError ("EOF in multi-line statement")
    struct.error,
    zlib.error,
)
_DEFLATE_MAX_RATIO = 1032  # DEFLATE never expands data more than 1032:1
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")


class Archive:
    """Validating access to the ``.npy`` members of one open zip file.

    Parameters
    ----------
    path : str
        Named in every error message.
    zf : zipfile.ZipFile
    file_size : int
        Size of the file in bytes, the bound for every declared size.
    error : type of ValueError
        Raised for every problem.
    """

    def __init__(
        self, path: str, zf: zipfile.ZipFile, file_size: int, error: type[ValueError]
    ) -> None:
        self.path = path
        self.zf = zf
        self.error = error
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in zf.infolist():
            name = info.filename
            if not name.endswith(".npy"):
                self.fail(name, "unknown member (not a .npy array)")
            key = name[:-4]
            if key in self.members:
                self.fail(key, "duplicate member")
            if info.flag_bits & 0x1:
                self.fail(key, "encrypted members are refused")
            if info.compress_type == zipfile.ZIP_STORED:
                limit = info.compress_size
            elif info.compress_type == zipfile.ZIP_DEFLATED:
                limit = _DEFLATE_MAX_RATIO * info.compress_size + 64
            else:
                self.fail(
                    key,
                    f"compression method {info.compress_type} is refused "
                    "(only stored or deflated)",
                )
            if info.compress_size > file_size:
                self.fail(
                    key,
                    f"declares {info.compress_size} compressed bytes in a file of "
                    f"{file_size} bytes",
                )
            if info.file_size > limit:
                self.fail(
                    key,
                    f"declares {info.file_size} bytes, more than its "
                    f"{info.compress_size} stored bytes can hold",
                )
            self.members[key] = info

    def fail(self, field: str, problem: str) -> NoReturn:
        raise self.error(f"{self.path}: {field}: {problem}")

    @contextmanager
    def _member(self, field: str) -> Iterator[IO[bytes]]:
        """Open member `field`, turning every read error into ``self.error``."""
        info = self.members.get(field)
        if info is None:
            self.fail(field, "missing member")
        try:
            with self.zf.open(info) as f:
                yield f
        except self.error:
            raise
        except READ_ERRORS as e:
            self.fail(field, f"unreadable ({type(e).__name__}: {e})")

    def _npy_header(
        self, f: IO[bytes], field: str
    ) -> tuple[tuple[int, ...], bool, Any]:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            self.fail(field, f"unsupported .npy version {version}")
        if dtype.hasobject:
            self.fail(field, f"object arrays are refused; got dtype {dtype}")
        return tuple(shape), bool(fortran), dtype

    def peek(self, field: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
        """Shape and dtype that member `field` declares (nothing else is read)."""
        with self._member(field) as f:
            shape, _, dtype = self._npy_header(f, field)
        return shape, dtype

    def read(
        self, field: str, dtype: np.dtype[Any], shape: tuple[int, ...]
    ) -> np.ndarray:
        """Member `field`, which must be exactly `dtype` and `shape`.

        Dtype, shape and the member's size are checked before the array is
        allocated; the data must then fill it exactly.
        """
        with self._member(field) as f:
            got_shape, fortran, got_dtype = self._npy_header(f, field)
            if got_dtype != dtype:
                self.fail(field, f"dtype must be {dtype}; got {got_dtype}")
            if got_shape != shape:
                self.fail(field, f"shape must be {shape}; got {got_shape}")
            if fortran and len(shape) > 1:
                self.fail(field, "Fortran-ordered arrays are refused")
            nbytes = math.prod(shape) * dtype.itemsize
            declared = self.members[field].file_size - f.tell()
            if declared != nbytes:
                self.fail(
                    field,
                    f"member holds {declared} data bytes; shape {shape} and dtype "
                    f"{dtype} need {nbytes}",
                )
            arr = np.empty(shape, dtype)
            got = f.readinto(arr.reshape(-1).view(np.uint8)) if nbytes else 0  # type: ignore[attr-defined]
            if got != nbytes or f.read(1):
                self.fail(field, f"truncated: read {got} of {nbytes} bytes")
        return arr

    def read_json(self, field: str, max_chars: int) -> Any:
        """Member `field`: a 0-d str array holding JSON, parsed."""
        shape, dtype = self.peek(field)
        if dtype.kind != "U" or shape != ():
            self.fail(field, f"must be a 0-d str array; got {dtype} of shape {shape}")
        if dtype.itemsize > 4 * max_chars:
            self.fail(field, f"too long ({dtype.itemsize // 4} characters)")
        text = str(self.read(field, dtype, ())[()])
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as e:
            self.fail(field, f"invalid JSON ({type(e).__name__}: {e})")


@contextmanager
def open_archive(
    path: str | os.PathLike[str], error: type[ValueError]
) -> Iterator[Archive]:
    """Open `path` as a zip archive of ``.npy`` members, checking it first.

    Raises
    ------
    error
        If the file is not a zip archive or its directory is malformed.
    FileNotFoundError, IsADirectoryError, PermissionError
        The file cannot be opened (the content is not to blame).
    """
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"path must be a str or os.PathLike[str]; got {path!r}")
    fid = open(path, "rb")  # noqa: SIM115 - closed below
    with fid:
        size = os.fstat(fid.fileno()).st_size
        magic = fid.read(4)
        fid.seek(0)
        if magic not in _ZIP_SIGNATURES:
            what = "a single .npy array" if magic == b"\x93NUM" else "no zip signature"
            raise error(f"{path}: not an .npz archive ({what})")
        try:
            zf = zipfile.ZipFile(fid)
        except READ_ERRORS as e:
            raise error(
                f"{path}: not a readable .npz archive ({type(e).__name__}: {e})"
            ) from None
        with zf:
            yield Archive(path, zf, size, error)
