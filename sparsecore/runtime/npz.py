"""A defensive reader of ``.npz`` archives, for files that may be hostile.

The one reader behind every file a user hands sparsecore
(:meth:`SparseModel.load <sparsecore.runtime.SparseModel.load>`,
:func:`sparsecore.load_model`, the command line). Every size a file declares is checked
against what the file can actually hold before anything is read: the zip
signature first, then, for each member, its name (``<field>.npy``, once), its
compression (stored or deflated, not encrypted), its compressed size against
the file's size and its uncompressed size against its compressed size
(stored: equal; deflated: at most 1032 times, the most DEFLATE can expand);
then each array's ``.npy`` header (version, dtype, shape, order) against what
the caller expects. The data are read in chunks, so memory grows only with
the bytes the file really holds. Nothing is ever unpickled. Every problem
raises the caller's error class (a :class:`ValueError`) with
``"<file>: <field>: <problem>"``.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any, NoReturn

import numpy as np

__all__ = ["NpzArchive", "SparseFormatError", "open_npz"]


class SparseFormatError(ValueError):
    """A file is not a valid sparsecore archive.

    Raised for every problem found while reading a file: unreadable or
    truncated archives, unknown versions, missing or unexpected members,
    wrong dtypes or shapes, inconsistent sizes, out-of-range indices. The
    message names the file, the field and the problem. A path that does not
    exist raises :class:`FileNotFoundError` instead.
    """


_DEFLATE_MAX_RATIO = 1032  # DEFLATE never expands data more than 1032:1
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # a member first, or empty
_CHUNK = 1 << 24
_NPY_OVERHEAD = 256  # a 0-d str array's .npy header, numpy pads it to 64s


class NpzArchive:
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

    Attributes
    ----------
    members : dict of str to zipfile.ZipInfo
        Member name without ``.npy`` -> its directory entry, in file order.
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
                self.fail(name, "is not a .npy member (unknown member)")
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
                    f"unreadable (compression method {info.compress_type} is "
                    "refused; only stored or deflated)",
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
        """Raise ``self.error("<file>: <field>: <problem>")``."""
        raise self.error(f"{self.path}: {field}: {problem}")

    def check_members(
        self, expected: Sequence[str], *, missing_first: bool = False
    ) -> None:
        """Refuse the first unknown member (by name) or missing one (in order).

        Parameters
        ----------
        expected : sequence of str
            Every member the file must hold, and nothing else.
        missing_first : bool, default=False
            Report a missing member before an unknown one.
        """
        unknown = sorted(set(self.members) - set(expected))
        missing = [name for name in expected if name not in self.members]
        problems = [(unknown, "unknown member"), (missing, "missing member")]
        for names, problem in problems[::-1] if missing_first else problems:
            if names:
                self.fail(names[0], problem)

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
        # Any exception here comes from the file (zipfile, zlib, numpy's .npy
        # header parser with its tokenizer errors, struct, memory, ...):
        # none may escape as anything but the caller's error.
        except Exception as e:
            self.fail(field, f"unreadable ({type(e).__name__}: {e})")

    def _npy_header(
        self, f: IO[bytes], field: str
    ) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
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
        """Shape and dtype that member `field` declares (no data are read)."""
        with self._member(field) as f:
            shape, _, dtype = self._npy_header(f, field)
        return shape, dtype

    def read(
        self, field: str, dtype: np.dtype[Any], shape: tuple[int, ...]
    ) -> np.ndarray:
        """Member `field`, which must be exactly `dtype` and `shape`.

        Dtype, shape, order and the member's declared size are checked before
        any data are read; the data are then read in chunks (memory grows only
        with the bytes the file really holds) and must fill the array exactly.
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
                    f"member holds {declared} data bytes; its shape {shape} "
                    f"and dtype {dtype} need {nbytes}",
                )
            buf = bytearray()
            while len(buf) < nbytes:
                chunk = f.read(min(nbytes - len(buf), _CHUNK))
                if not chunk:
                    break
                buf += chunk
            if len(buf) != nbytes or f.read(1):
                self.fail(field, f"truncated: read {len(buf)} of {nbytes} bytes")
            # frombuffer refuses an empty buffer with a 0-byte dtype ('<U0')
            arr = (
                np.frombuffer(buf, dtype).reshape(shape)
                if nbytes
                else np.zeros(shape, dtype)
            )
        return arr

    def read_json(self, field: str, max_chars: int) -> Any:
        """Member `field`: a 0-d str array of at most `max_chars`, as JSON."""
        info = self.members.get(field)
        if info is None:
            self.fail(field, "missing member")
        if info.file_size > 4 * max_chars + _NPY_OVERHEAD:
            self.fail(field, f"too large ({info.file_size} bytes)")
        shape, dtype = self.peek(field)
        if dtype.kind != "U" or shape != ():
            self.fail(field, f"must be a 0-d str array; got {dtype} of shape {shape}")
        if dtype.itemsize > 4 * max_chars:
            self.fail(field, f"too long ({dtype.itemsize // 4} characters)")
        text = str(self.read(field, dtype, ())[()])
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as e:  # RecursionError: deep nesting
            self.fail(field, f"invalid JSON ({type(e).__name__}: {e})")


@contextmanager
def open_npz(
    path: str,
    error: type[ValueError],
    *,
    passthrough: tuple[type[OSError], ...] = (OSError,),
) -> Iterator[NpzArchive]:
    """Open `path` as a zip archive of ``.npy`` members, checking it first.

    Parameters
    ----------
    path : str
    error : type of ValueError
        Raised for every problem with the file's content.
    passthrough : tuple of OSError subclasses, default=(OSError,)
        Errors from opening the file that propagate unchanged (the content is
        not to blame); any other :class:`OSError` from opening becomes `error`.

    Yields
    ------
    NpzArchive
        Its member list already checked.

    Raises
    ------
    error
        If the file is not a zip archive or its directory is malformed.
    """
    try:
        fid = open(path, "rb")  # noqa: SIM115 - closed below
    except passthrough:
        raise
    except OSError as e:
        raise error(f"{path}: not a readable file ({type(e).__name__}: {e})") from e
    with fid:
        size = os.fstat(fid.fileno()).st_size
        magic = fid.read(4)
        fid.seek(0)
        if magic not in _ZIP_SIGNATURES:
            what = "a single .npy array" if magic == b"\x93NUM" else "no zip signature"
            raise error(f"{path}: not a readable .npz archive ({what})")
        try:
            zf = zipfile.ZipFile(fid)
        except Exception as e:  # BadZipFile, OSError, EOFError, ValueError, ...
            raise error(
                f"{path}: not a readable .npz archive ({type(e).__name__}: {e})"
            ) from e
        with zf:
            yield NpzArchive(path, zf, size, error)
