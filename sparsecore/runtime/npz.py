"""A defensive reader of ``.npz`` archives, for files that may be hostile.

The one reader behind every file a user hands sparsecore
(:meth:`SparseModel.load <sparsecore.runtime.SparseModel.load>`,
:func:`sparsecore.load_model`, ``sparsecore inspect`` and ``sparsecore
prune``). It relies on neither :mod:`zipfile` nor :func:`numpy.load`: it parses
the zip structures and the ``.npy`` headers itself, with a fixed grammar and
bounded sizes, so its checks do not change with the Python or NumPy version.

Every size a file declares is checked against what the file can hold before
anything is read or allocated:

- **The file**: a regular file (a folder, FIFO or device is refused without
  blocking on it), opened read-only.
- **The zip directory**: one end record whose comment ends the file, an
  optional zip64 end record, a central directory ending where the end record
  begins; one disk; no prepended or appended data.
- **Each member**: a unique name (``<field>.npy`` for arrays), stored or
  deflated (bzip2, lzma, deflate64, ... and encryption are refused), a local
  header that agrees with the directory (name, method, sizes, CRC), its
  compressed bytes inside the file, its size at most what they can hold
  (stored: equal; deflated: at most 1032 times, the most DEFLATE expands).
- **All members together**: local entries in file order, each starting at or
  after the end of the previous one (overlapping entries, the trick behind
  zip bombs that share one compressed tail, are refused), the first at offset
  0, the last ending before the directory; so the declared total is at most
  1032 times the file size.
- **Each ``.npy`` header**: version 1, 2 or 3, at most 64 KiB of text parsed by
  a small tokenizer (a dict of ``descr``, ``fortran_order`` and ``shape`` with
  string, bool and integer literals only: no ``eval``, no recursion), a plain
  dtype (no objects, structures or sub-arrays, non-zero item size), at most 32
  dimensions, and a data size equal to what the member declares.

The data are then inflated in chunks into an array of exactly the declared
size (memory grows only with the bytes the file really holds), the stream
must end exactly there and its CRC-32 must match. Boolean arrays must hold
only 0 and 1 bytes. Nothing is ever unpickled. Every problem raises the
caller's error class (a :class:`ValueError`) with ``"<file>: <field>:
<problem>"`` or ``"<file>: not a readable .npz archive (<problem>)"``.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import struct
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, NoReturn

import numpy as np

__all__ = [
    "NpzArchive",
    "SparseFormatError",
    "ZipMember",
    "open_npz",
    "open_regular_file",
    "printable",
]


class SparseFormatError(ValueError):
    """A file is not a valid sparsecore archive.

    Raised for every problem found while reading a file: unreadable or
    truncated archives, unknown versions, missing or unexpected members,
    wrong dtypes or shapes, inconsistent sizes, out-of-range indices, and
    paths that are not regular files (folders, FIFOs, devices). The message
    names the file, the field and the problem. A path that does not exist
    raises :class:`FileNotFoundError` instead, and one the process may not
    read :class:`PermissionError` (the file itself may be fine).
    """


_DEFLATE_MAX_RATIO = 1032  # DEFLATE never expands data more than 1032:1
_STORED, _DEFLATED = 0, 8
_METHOD_NAMES = {9: "deflate64", 12: "bzip2", 14: "lzma", 93: "zstd", 98: "ppmd"}
_METHOD_NAMES[99] = "AES encryption"
_CHUNK = 1 << 20  # bytes read from the file at a time
_MAX_NPY_HEADER = 1 << 16
_MAX_NDIM = 32
_MAX_DIM = 1 << 62
_NPY_OVERHEAD = 256  # a 0-d str array's .npy header, numpy pads it to 64s
_U16, _U32 = 0xFFFF, 0xFFFFFFFF
_EOCD = struct.Struct("<4sHHHHIIH")  # end of central directory, 22 bytes
_LOC64 = struct.Struct("<4sIQI")  # zip64 end locator, 20 bytes
_EOCD64 = struct.Struct("<4sQHHIIQQQQ")  # zip64 end record, 56 bytes
_CDIR = struct.Struct("<4sHHHHHHIIIHHHHHII")  # central directory entry, 46 bytes
_LOCAL = struct.Struct("<4sHHHHHIIIHH")  # local file header, 30 bytes
# A flag bit 0 (encrypted), 6 (strong encryption) or 13 (masked directory).
_ENCRYPTED = 0x1 | 0x40 | 0x2000
_DESCRIPTOR = 0x8  # sizes and CRC follow the data (streamed writers)
_UTF8 = 0x800
_ACCEPTED_KINDS = "biufcSUmM"
_DESCR = re.compile(r"[<>|=]?[a-zA-Z]{1,2}[0-9]{0,10}(\[[a-zA-Z0-9]{1,4}\])?")
_NPY_TOKEN = re.compile(
    r"\s*(?:(?P<str>'[^'\\\n]{0,64}'|\"[^\"\\\n]{0,64}\")"
    r"|(?P<int>[0-9]{1,20})L?|(?P<name>True|False)|(?P<punct>[{}(),:]))"
)


def printable(name: str, limit: int = 200) -> str:
    """`name` for a one-line message: escaped if not printable, cut if long."""
    text = name if name.isprintable() else ascii(name)[1:-1]
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class ZipMember:
    """One member of an archive, as its central directory and local header say.

    Attributes
    ----------
    name : str
        The full member name (``"dense_0/kernel.npy"``).
    method : int
        0 stored, 8 deflated.
    crc : int
        CRC-32 of the uncompressed bytes.
    compress_size, file_size : int
        Bytes in the file, and after inflating.
    header_offset, data_offset : int
        Where the local header and the (compressed) data start.
    """

    name: str
    method: int
    crc: int
    compress_size: int
    file_size: int
    header_offset: int
    data_offset: int


class _Stream:
    """The uncompressed bytes of one member, read in chunks and checked.

    ``read(n)`` returns at most `n` bytes (fewer only at the end);
    :meth:`finish` checks that exactly ``file_size`` bytes came out, the
    DEFLATE stream ended there, and the CRC-32 matches.
    """

    def __init__(self, fid: IO[bytes], m: ZipMember, fail: Any) -> None:
        self._fid, self._m, self._fail = fid, m, fail
        self._pos = m.data_offset
        self._left = m.compress_size  # compressed bytes not read from the file yet
        self._out = 0  # uncompressed bytes returned
        self._crc = 0
        self._z = zlib.decompressobj(-15) if m.method == _DEFLATED else None

    @property
    def produced(self) -> int:
        """Uncompressed bytes returned so far."""
        return self._out

    def _raw(self, n: int) -> bytes:
        n = min(n, self._left)
        if n <= 0:
            return b""
        self._fid.seek(self._pos)
        data = self._fid.read(n)
        if len(data) != n:
            self._fail("truncated: the file ends inside this member's data")
        self._pos += n
        self._left -= n
        return data

    def _inflate(self, n: int) -> bytes:
        z = self._z
        assert z is not None  # internal: only called for deflated members
        out = bytearray()
        try:
            while len(out) < n and not z.eof:
                src = z.unconsumed_tail or self._raw(_CHUNK)
                chunk = z.decompress(src, n - len(out))
                if not chunk and not src:  # no input left and nothing pending
                    break
                out += chunk
        except zlib.error as e:
            self._fail(f"corrupt deflate data ({e})")
        return bytes(out)

    def read(self, n: int) -> bytes:
        n = min(n, self._m.file_size - self._out)  # never beyond the declared size
        data = self._inflate(n) if self._z is not None else self._raw(n)
        self._out += len(data)
        self._crc = zlib.crc32(data, self._crc)
        return data

    def readinto(self, buf: memoryview) -> int:
        """Fill `buf` (in chunks); return the bytes written."""
        done = 0
        while done < len(buf):
            data = self.read(min(len(buf) - done, _CHUNK))
            if not data:
                break
            buf[done : done + len(data)] = data
            done += len(data)
        return done

    def finish(self) -> None:
        m = self._m
        if self._out != m.file_size:
            self._fail(f"truncated: read {self._out} of {m.file_size} bytes")
        z = self._z
        if z is not None:
            if not z.eof and self._inflate(1):  # data beyond the declared size
                self._fail("holds more data than its declared size")
            if not z.eof or z.unused_data or z.unconsumed_tail or self._left:
                self._fail(
                    "corrupt deflate data (the stream does not end where the "
                    "member's declared size does)"
                )
        if self._crc != m.crc:
            self._fail(
                f"corrupt: CRC-32 {self._crc:08x} of the data differs from the "
                f"{m.crc:08x} the archive declares"
            )


def _zip64_extra(
    extra: bytes, wanted: Sequence[str], values: dict[str, int]
) -> str | None:
    """Replace the `wanted` fields of `values` from a zip64 extra block.

    Returns None, or the problem with the extra field.
    """
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + size]
        if len(body) != size:
            return "malformed extra field"
        if tag == 1:
            if len(body) < 8 * len(wanted):
                return "zip64 extra field too short"
            for i, key in enumerate(wanted):
                values[key] = struct.unpack_from("<Q", body, 8 * i)[0]
            return None
        pos += 4 + size
    if wanted:
        return "sizes or offset marked zip64 but no zip64 extra field"
    return None


class _Problem(Exception):
    """A problem found by :func:`_directory`: of one member, or of the archive."""

    def __init__(self, problem: str, field: str | None = None) -> None:
        super().__init__(problem)
        self.problem, self.field = problem, field


def _fail(problem: str) -> NoReturn:
    raise _Problem(problem)


def _member_fail(field: str, problem: str) -> NoReturn:
    raise _Problem(problem, field)


def _directory(fid: IO[bytes], size: int) -> list[ZipMember]:
    """Parse and check the central directory and every local header.

    Returns the members in file order; raises :class:`_Problem`.
    """
    fail = _fail
    tail_len = min(size, _EOCD.size + _U16)
    fid.seek(size - tail_len)
    tail = fid.read(tail_len)
    pos = tail.rfind(b"PK\x05\x06")
    while pos >= 0:  # the end record whose comment runs exactly to the end
        if pos + _EOCD.size <= len(tail):
            comment = struct.unpack_from("<H", tail, pos + 20)[0]
            if pos + _EOCD.size + comment == len(tail):
                break
        pos = tail.rfind(b"PK\x05\x06", 0, pos)
    if pos < 0:
        fail(
            "no end of central directory record: not a zip file, truncated, or "
            "followed by other data"
        )
    eocd = size - tail_len + pos
    _, disk, cd_disk, n_disk, n, cd_size, cd_off, _ = _EOCD.unpack_from(tail, pos)
    cd_end = eocd
    if eocd >= _LOC64.size:
        fid.seek(eocd - _LOC64.size)
        loc = fid.read(_LOC64.size)
        if loc[:4] == b"PK\x06\x07":
            _, _, rec, disks = _LOC64.unpack(loc)
            if disks > 1:
                fail("multi-disk archives are refused")
            if rec + _EOCD64.size > eocd - _LOC64.size:
                fail("zip64 end record outside the file")
            fid.seek(rec)
            raw = fid.read(_EOCD64.size)
            sig, rec_size, _, _, disk, cd_disk, n_disk, n, cd_size, cd_off = (
                _EOCD64.unpack(raw)
            )
            if sig != b"PK\x06\x06" or rec + 12 + rec_size != eocd - _LOC64.size:
                fail("malformed zip64 end record")
            cd_end = rec
    if disk or cd_disk or n_disk != n:
        fail("multi-disk archives are refused")
    if cd_off + cd_size != cd_end:
        fail(
            f"the central directory ({cd_size} bytes at offset {cd_off}) does not "
            f"end where the end record begins ({cd_end})"
        )
    if n * _CDIR.size > cd_size:
        fail(f"{n} entries cannot fit in a {cd_size}-byte central directory")
    fid.seek(cd_off)
    cd = fid.read(cd_size)
    if len(cd) != cd_size:
        fail("truncated central directory")
    members: list[ZipMember] = []
    names: set[str] = set()
    p = 0
    prev_end = 0  # the first local entry must start at offset 0
    total = 0
    for i in range(n):
        if p + _CDIR.size > cd_size:
            fail(f"central directory entry {i} is truncated")
        (sig, _, _, flags, method, _, _, crc, csize, usize, nlen, xlen, clen) = (
            entry := _CDIR.unpack_from(cd, p)
        )[:13]
        disk_start, offset = entry[13], entry[16]
        end = p + _CDIR.size + nlen + xlen + clen
        if sig != b"PK\x01\x02" or end > cd_size:
            fail(f"central directory entry {i} is malformed")
        raw_name = cd[p + _CDIR.size : p + _CDIR.size + nlen]
        extra = cd[p + _CDIR.size + nlen : p + _CDIR.size + nlen + xlen]
        p = end
        try:
            name = raw_name.decode("utf-8" if flags & _UTF8 else "cp437")
        except UnicodeDecodeError:
            fail(f"central directory entry {i} has a name that is not UTF-8")
        values = {"usize": usize, "csize": csize, "offset": offset}
        wanted = [k for k in ("usize", "csize", "offset") if values[k] == _U32]
        problem = _zip64_extra(extra, wanted, values)
        if problem is not None:
            fail(f"member {printable(name)!r}: {problem}")
        usize, csize, offset = values["usize"], values["csize"], values["offset"]
        field = name[:-4] if name.endswith(".npy") else name
        if disk_start not in (0, _U16):
            fail("multi-disk archives are refused")
        if not name or name.endswith("/") or "\0" in name:
            _member_fail(field, "not a file member (empty name, folder or NUL)")
        if name in names:
            _member_fail(field, "duplicate member")
        names.add(name)
        if flags & _ENCRYPTED:
            _member_fail(field, "encrypted members are refused")
        if method not in (_STORED, _DEFLATED):
            what = _METHOD_NAMES.get(method, "unknown")
            _member_fail(
                field,
                f"unreadable (compression method {method}, {what}, is refused; "
                "only stored or deflated)",
            )
        if csize > size:
            _member_fail(
                field,
                f"declares {csize} compressed bytes in a file of {size} bytes",
            )
        limit = csize if method == _STORED else _DEFLATE_MAX_RATIO * csize + 64
        if usize > limit:
            _member_fail(
                field,
                f"declares {usize} bytes, more than its {csize} stored bytes can hold",
            )
        # The local entry: where it starts must follow the previous entry's data.
        if offset < prev_end:
            _member_fail(
                field,
                f"its local entry at offset {offset} overlaps the previous "
                f"entry or is out of order (that one ends at {prev_end})",
            )
        fid.seek(offset)
        head = fid.read(_LOCAL.size)
        if len(head) != _LOCAL.size:
            _member_fail(field, "truncated local header")
        (lsig, _, lflags, lmethod, _, _, lcrc, lcsize, lusize, lnlen, lxlen) = (
            _LOCAL.unpack(head)
        )
        if lsig != b"PK\x03\x04":
            _member_fail(field, f"no local header at offset {offset}")
        lname = fid.read(lnlen)
        lextra = fid.read(lxlen)
        if lname != raw_name or lmethod != method or (lflags & _ENCRYPTED):
            _member_fail(
                field,
                "the local header disagrees with the central directory (name, "
                "method or encryption)",
            )
        if not lflags & _DESCRIPTOR:
            lvalues = {"usize": lusize, "csize": lcsize}
            lwanted = [k for k in ("usize", "csize") if lvalues[k] == _U32]
            if lwanted:  # a local zip64 extra holds both sizes, in this order
                lwanted = ["usize", "csize"]
            problem = _zip64_extra(lextra, lwanted, lvalues)
            if problem is not None or (lcrc, lvalues["csize"], lvalues["usize"]) != (
                crc,
                csize,
                usize,
            ):
                _member_fail(
                    field,
                    "the local header disagrees with the central directory "
                    "(sizes or CRC)",
                )
        data_offset = offset + _LOCAL.size + lnlen + lxlen
        prev_end = data_offset + csize
        if prev_end > cd_off:
            _member_fail(
                field,
                f"its data ({csize} bytes at offset {data_offset}) run into the "
                f"central directory at offset {cd_off}",
            )
        total += usize
        members.append(ZipMember(name, method, crc, csize, usize, offset, data_offset))
    if p != cd_size:
        fail("the central directory holds more than its entries")
    if (
        total > _DEFLATE_MAX_RATIO * size + 64 * n
    ):  # implied by the above; kept explicit
        fail(f"declares {total} bytes in all, more than a {size}-byte file can hold")
    return members


def _parse_npy_header(text: str) -> tuple[str, bool, tuple[int, ...]]:
    """``(descr, fortran_order, shape)`` from a ``.npy`` header dict literal.

    The grammar is the one numpy writes: ``{'descr': <str>, 'fortran_order':
    True|False, 'shape': (<int>, ...), }`` with any spacing, keys in any order,
    each exactly once. Raises ValueError naming the problem.
    """
    tokens: list[tuple[str, str]] = []
    pos, n = 0, len(text.rstrip())
    while pos < n:
        m = _NPY_TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(
                f"unexpected text at character {pos}: {text[pos : pos + 20]!r}"
            )
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    it = iter(tokens)

    def take(expected: str | None = None) -> tuple[str, str]:
        tok = next(it, ("end", ""))
        if expected is not None and tok[1] != expected:
            raise ValueError(f"expected {expected!r}; got {tok[1] or 'the end'!r}")
        return tok

    take("{")
    values: dict[str, Any] = {}
    tok = take()
    while tok[1] != "}":
        if tok[0] != "str":
            raise ValueError(f"expected a key; got {tok[1] or 'the end'!r}")
        key = tok[1][1:-1]
        if key in values:
            raise ValueError(f"duplicate key {key!r}")
        take(":")
        kind, value = take()
        if kind == "str":
            values[key] = value[1:-1]
        elif kind == "name":
            values[key] = value == "True"
        elif value == "(":
            dims: list[int] = []
            kind, value = take()
            while value != ")":
                if kind != "int":
                    raise ValueError(
                        f"shape must hold ints; got {value or 'the end'!r}"
                    )
                dims.append(int(value))
                kind, value = take()
                if value == ",":
                    kind, value = take()
                elif value != ")":
                    raise ValueError(f"expected ',' or ')'; got {value or 'the end'!r}")
                if len(dims) > _MAX_NDIM:
                    raise ValueError(f"more than {_MAX_NDIM} dimensions")
            values[key] = tuple(dims)
        else:
            raise ValueError(f"unexpected value {value or 'the end'!r}")
        tok = take()
        if tok[1] == ",":
            tok = take()
        elif tok[1] != "}":
            raise ValueError(f"expected ',' or '}}'; got {tok[1] or 'the end'!r}")
    if next(it, None) is not None:
        raise ValueError("text after the closing '}'")
    keys = {"descr", "fortran_order", "shape"}
    if set(values) != keys:
        raise ValueError(f"keys must be {sorted(keys)}; got {sorted(values)}")
    descr, fortran, shape = values["descr"], values["fortran_order"], values["shape"]
    if not isinstance(descr, str):
        raise ValueError(f"descr must be a dtype string; got {descr!r}")
    if not isinstance(fortran, bool):
        raise ValueError(f"fortran_order must be True or False; got {fortran!r}")
    if not isinstance(shape, tuple) or any(d > _MAX_DIM for d in shape):
        raise ValueError(f"shape must be a tuple of ints in [0, 2**62]; got {shape!r}")
    return descr, fortran, shape


def _parse_descr(descr: str) -> np.dtype[Any]:
    """A plain dtype from a ``.npy`` descr; ValueError for anything else."""
    if not re.fullmatch(
        r"[<>|=]?[a-zA-Z]{1,2}[0-9]{0,10}(\[[a-zA-Z0-9]{1,4}\])?", descr
    ):
        raise ValueError(f"unsupported dtype {descr!r}")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError):
        raise ValueError(f"unsupported dtype {descr!r}") from None
    if dtype.hasobject:
        raise ValueError(f"object arrays are refused; got dtype {dtype}")
    if dtype.kind not in _ACCEPTED_KINDS or dtype.shape or dtype.fields:
        raise ValueError(f"unsupported dtype {descr!r} ({dtype})")
    if dtype.itemsize == 0:
        raise ValueError(f"zero-size dtype {descr!r} is refused")
    return dtype


class NpzArchive:
    """Validating access to the members of one open, checked zip file.

    Built by :func:`open_npz`.

    Parameters
    ----------
    path : str
        Named in every error message.
    fid : binary file
        The open file.
    file_size : int
    error : type of ValueError
        Raised for every problem.
    allow_fortran : bool, default=False
        Accept Fortran-ordered arrays (as exported weights often are); they
        are returned Fortran-ordered. Refused otherwise.
    allow_other : bool, default=False
        Accept members whose name does not end in ``.npy`` (listed in
        :attr:`others`, read with :meth:`read_bytes`). Refused otherwise.

    Attributes
    ----------
    members : dict of str to ZipMember
        ``.npy`` members by name without ``.npy``, in file order.
    others : dict of str to ZipMember
        Every other member by its full name (empty unless `allow_other`).
    order : list of (str, bool)
        Every member in file order: ``(key, is_npy)``.
    """

    def __init__(
        self,
        path: str,
        fid: IO[bytes],
        file_size: int,
        error: type[ValueError],
        *,
        allow_fortran: bool = False,
        allow_other: bool = False,
    ) -> None:
        self.path, self.error = path, error
        self._fid = fid
        self.allow_fortran = allow_fortran
        self.members: dict[str, ZipMember] = {}
        self.others: dict[str, ZipMember] = {}
        self.order: list[tuple[str, bool]] = []

        try:
            entries = _directory(fid, file_size)
        except _Problem as e:
            if e.field is not None:
                self.fail(e.field, e.problem)
            raise error(f"{path}: not a readable .npz archive ({e.problem})") from None
        except OSError as e:  # a read error of the device itself
            raise error(
                f"{path}: not a readable .npz archive (read error: {e.strerror or e})"
            ) from None
        for m in entries:
            if m.name.endswith(".npy"):
                key = m.name[:-4]
                if key in self.members:  # "a.npy" listed under two spellings
                    self.fail(key, "duplicate member")
                self.members[key] = m
                self.order.append((key, True))
            elif allow_other:
                self.others[m.name] = m
                self.order.append((m.name, False))
            else:
                self.fail(m.name, "is not a .npy member (unknown member)")

    def fail(self, field: str, problem: str) -> NoReturn:
        """Raise ``self.error("<file>: <field>: <problem>")``.

        A field (a member name, the file's choice) that is not printable or
        too long is shown escaped and cut, so the message stays one line.
        """
        raise self.error(f"{self.path}: {printable(field)}: {problem}")

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
    def _stream(self, field: str, m: ZipMember | None) -> Iterator[_Stream]:
        if m is None:
            self.fail(field, "missing member")

        def fail(problem: str) -> NoReturn:
            self.fail(field, problem)

        try:
            yield _Stream(self._fid, m, fail)
        except OSError as e:  # a read error of the device itself
            self.fail(field, f"unreadable (read error: {e.strerror or e})")
        except MemoryError:
            self.fail(field, f"unreadable (out of memory for {m.file_size} bytes)")

    def _npy_header(
        self, s: _Stream, field: str
    ) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
        magic = s.read(8)
        if len(magic) != 8 or magic[:6] != b"\x93NUMPY":
            self.fail(field, "not a .npy array (no .npy magic)")
        version = (magic[6], magic[7])
        if version not in ((1, 0), (2, 0), (3, 0)):
            self.fail(field, f"unsupported .npy version {version}")
        width = 2 if version == (1, 0) else 4
        raw = s.read(width)
        if len(raw) != width:
            self.fail(field, "truncated .npy header")
        length = int.from_bytes(raw, "little")
        if length > _MAX_NPY_HEADER:
            self.fail(field, f".npy header too long ({length} bytes)")
        text = s.read(length)
        if len(text) != length:
            self.fail(field, "truncated .npy header")
        try:
            decoded = text.decode("utf-8" if version == (3, 0) else "latin1")
            descr, fortran, shape = _parse_npy_header(decoded)
            dtype = _parse_descr(descr)
        except ValueError as e:
            if "object arrays" in str(e):
                self.fail(field, str(e))
            self.fail(field, f"invalid .npy header ({e})")
        if fortran and len(shape) > 1 and not self.allow_fortran:
            self.fail(field, "Fortran-ordered arrays are refused")
        return shape, fortran, dtype

    def peek(self, field: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
        """Shape and dtype that member `field` declares (no data are read)."""
        with self._stream(field, self.members.get(field)) as s:
            shape, _, dtype = self._npy_header(s, field)
        return shape, dtype

    def _data(
        self,
        s: _Stream,
        field: str,
        shape: tuple[int, ...],
        fortran: bool,
        dtype: np.dtype[Any],
    ) -> np.ndarray:
        m = self.members[field]
        nbytes = math.prod(shape) * dtype.itemsize
        declared = m.file_size - s.produced
        if declared != nbytes:
            self.fail(
                field,
                f"member holds {declared} data bytes; its shape {shape} "
                f"and dtype {dtype} need {nbytes}",
            )
        buf = np.empty(nbytes, np.uint8)
        got = s.readinto(memoryview(buf.data))
        if got != nbytes:
            self.fail(field, f"truncated: read {got} of {nbytes} bytes")
        s.finish()
        if dtype.kind == "b" and nbytes and int(buf.max()) > 1:
            self.fail(field, "must hold only 0 (False) and 1 (True) bytes")
        flat = buf.view(dtype)
        if fortran and len(shape) > 1:
            return flat.reshape(shape[::-1]).T
        return flat.reshape(shape)

    def read(
        self, field: str, dtype: np.dtype[Any], shape: tuple[int, ...]
    ) -> np.ndarray:
        """Member `field`, which must be exactly `dtype` and `shape`.

        Dtype, shape, order and the member's declared size are checked before
        any data are read; the data are then read in chunks (memory grows only
        with the bytes the file really holds) and must fill the array exactly.
        """
        with self._stream(field, self.members.get(field)) as s:
            got_shape, fortran, got_dtype = self._npy_header(s, field)
            if got_dtype != dtype:
                self.fail(field, f"dtype must be {dtype}; got {got_dtype}")
            if got_shape != shape:
                self.fail(field, f"shape must be {shape}; got {got_shape}")
            return self._data(s, field, shape, fortran, dtype)

    def read_array(self, field: str) -> np.ndarray:
        """Member `field` with whatever plain dtype and shape it declares.

        The same checks as :meth:`read` (header, sizes, CRC, bool bytes);
        Fortran-ordered arrays only with ``allow_fortran``.
        """
        with self._stream(field, self.members.get(field)) as s:
            shape, fortran, dtype = self._npy_header(s, field)
            return self._data(s, field, shape, fortran, dtype)

    def read_bytes(self, name: str) -> bytes:
        """The content of the non-``.npy`` member `name`, byte for byte (checked)."""
        m = self.others.get(name)
        with self._stream(name, m) as s:
            data = s.read(m.file_size if m is not None else 0)
            s.finish()
        return data

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
        arr = self.read(field, dtype, ())
        try:
            text = str(arr[()])
            return json.loads(text)
        # RecursionError: deep nesting; ValueError: bad JSON, ints beyond
        # Python's digit limit; UnicodeError: lone surrogates.
        except (ValueError, RecursionError, UnicodeError) as e:
            self.fail(field, f"invalid JSON ({type(e).__name__}: {str(e):.200})")


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "directory",
        stat.S_ISFIFO: "FIFO (named pipe)",
        stat.S_ISCHR: "character device",
        stat.S_ISBLK: "block device",
        stat.S_ISSOCK: "socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "special file")


@contextmanager
def open_npz(
    path: str,
    error: type[ValueError],
    *,
    passthrough: tuple[type[OSError], ...] = (FileNotFoundError, PermissionError),
    allow_fortran: bool = False,
    allow_other: bool = False,
) -> Iterator[NpzArchive]:
    """Open `path` as a zip archive of ``.npy`` members, checking it first.

    Parameters
    ----------
    path : str
    error : type of ValueError
        Raised for every problem with the file or its content.
    passthrough : tuple of OSError subclasses
        Default ``(FileNotFoundError, PermissionError)``. Errors from opening
        the file that propagate unchanged (the content is not to blame); any
        other :class:`OSError` from opening becomes `error`.
    allow_fortran, allow_other : bool, default=False
        See :class:`NpzArchive`.

    Yields
    ------
    NpzArchive
        Its directory already checked.

    Raises
    ------
    error
        If the path is not a regular file (a folder, FIFO, device), the file
        is not a zip archive, or its directory is malformed.
    """
    with open_regular_file(path, error, passthrough=passthrough) as (fid, size):
        magic = fid.read(4)
        if magic not in (b"PK\x03\x04", b"PK\x05\x06"):  # a member first, or empty
            what = "a single .npy array" if magic == b"\x93NUM" else "no zip signature"
            raise error(f"{path}: not a readable .npz archive ({what})")
        yield NpzArchive(
            path,
            fid,
            size,
            error,
            allow_fortran=allow_fortran,
            allow_other=allow_other,
        )


@contextmanager
def open_regular_file(
    path: str,
    error: type[ValueError],
    *,
    passthrough: tuple[type[OSError], ...] = (FileNotFoundError, PermissionError),
) -> Iterator[tuple[IO[bytes], int]]:
    """Open `path` read-only if it is a regular file; yield ``(file, size)``.

    A folder, FIFO, device or socket is refused (a FIFO without blocking on
    it) with `error`; errors of the `passthrough` classes propagate unchanged
    (the content is not to blame), any other :class:`OSError` from opening
    becomes `error`. Every reader of user files opens them through this.
    """
    # O_NONBLOCK: opening a FIFO for reading would wait for a writer.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except passthrough:
        raise
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not a file") from None
    except OSError as e:
        raise error(f"{path}: not a readable file ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{path}: is a {_kind(st.st_mode)}, not a regular file")
        fid = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with fid:
        yield fid, st.st_size
