"""A defensive reader of ``.safetensors`` files, for files that may be hostile.

The ``.safetensors`` format (Hugging Face) is an 8-byte little-endian header
length ``N``, ``N`` bytes of JSON, then one flat data buffer::

    {"<name>": {"dtype": "F32", "shape": [64, 32], "data_offsets": [0, 8192]},
     ..., "__metadata__": {"<key>": "<text>", ...}}

where each tensor's ``data_offsets`` are ``[begin, end)`` in the data buffer.
This reader parses it with the standard library and NumPy only (the
``safetensors`` package is not imported: :mod:`sparsecore.runtime` stays
vendorable), with the checks of :mod:`sparsecore.runtime.npz`: every size the
file declares is checked against what the file holds before anything is read
or allocated.

- **The file**: a regular file (a folder, FIFO or device is refused without
  blocking on it), opened read-only.
- **The header length**: at most :data:`MAX_HEADER_BYTES` (16 MiB; real
  headers take about 100 bytes per tensor) and at most what follows the 8
  bytes in the file.
- **The header**: UTF-8 JSON starting with ``{`` (trailing spaces, the
  format's padding, allowed), parsed by :func:`json.loads` with every object
  checked for duplicate keys, ``NaN``/``Infinity`` refused and deep nesting
  caught: a flat object of tensors and an optional ``__metadata__`` object of
  strings to strings.
- **Each tensor**: a non-empty name, exactly the keys ``dtype``, ``shape``,
  ``data_offsets``; a dtype from :data:`DTYPES` (an unknown one is named in
  the error); a shape of at most 32 ints in ``[0, 2**62]`` (a bool is not an
  int); ``0 <= begin <= end``, and ``end - begin`` exactly the bytes the
  shape and dtype need (Python integers: no overflow).
- **All tensors together**: sorted by offset, each begins where the previous
  one ends (no overlap, no gap), the first at 0 and the last ending exactly at
  the end of the file: the data buffer is covered exactly.

Data are read in chunks into an array of exactly the declared size; ``BOOL``
tensors must hold only 0 and 1 bytes. ``BF16`` tensors (which NumPy has no
dtype for) are widened to float32, exactly; :attr:`SafetensorsFile.dtypes`
keeps the file's dtype so a writer can narrow them back. Every problem raises
the caller's error class (a :class:`ValueError`) with ``"<file>: <tensor>:
<problem>"`` or ``"<file>: not a readable .safetensors file (<problem>)"``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, NoReturn

import numpy as np

from .npz import SparseFormatError, open_regular_file, printable

__all__ = [
    "DTYPES",
    "MAX_HEADER_BYTES",
    "SafetensorsFile",
    "SafetensorsTensor",
    "looks_like_safetensors",
    "open_safetensors",
]

#: The tensor dtypes read, by their ``.safetensors`` name: the NumPy dtype of
#: the bytes in the file (``BF16``: its 16 bits, widened to float32 on read).
DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("|b1"),
    "U8": np.dtype("|u1"),
    "I8": np.dtype("|i1"),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
}
#: The largest JSON header read (safetensors' own limit is 100 MB).
MAX_HEADER_BYTES = 1 << 24
_MAX_NDIM = 32
_MAX_DIM = 1 << 62
_CHUNK = 1 << 20
_TENSOR_KEYS = {"dtype", "shape", "data_offsets"}


@dataclass(frozen=True)
class SafetensorsTensor:
    """One tensor as the header declares it (checked).

    Attributes
    ----------
    name : str
    dtype : str
        The file's dtype name (``"F32"``, ``"BF16"``, ...).
    shape : tuple of int
    begin, end : int
        Its bytes ``[begin, end)`` in the data buffer.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


class _Problem(Exception):
    """A problem of the header: of one tensor (``field``), or of the file."""

    def __init__(self, problem: str, field: str | None = None) -> None:
        super().__init__(problem)
        self.problem, self.field = problem, field


def looks_like_safetensors(head: bytes) -> bool:
    """Whether the first bytes of a file look like ``.safetensors`` (``{`` at 8)."""
    return len(head) >= 9 and head[8:9] == b"{"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Problem("appears twice in the header (duplicate key)", key)
        out[key] = value
    return out


def _refuse_constant(name: str) -> NoReturn:
    raise _Problem(f"invalid JSON ({name} is not a number JSON allows)")


def _parse_header(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _Problem(
            f"the header is not UTF-8 ({e.reason} at byte {e.start})"
        ) from None
    if not text.startswith("{"):
        raise _Problem("the header is not a JSON object (it must start with '{')")
    try:
        header = json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant
        )
    # RecursionError: deep nesting; ValueError: bad JSON, ints beyond Python's
    # digit limit.
    except (ValueError, RecursionError) as e:
        raise _Problem(
            f"invalid JSON header ({type(e).__name__}: {str(e):.200})"
        ) from None
    if not isinstance(header, dict):
        raise _Problem("the header is not a JSON object")
    return header


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _tensor(name: str, entry: Any, data_len: int) -> SafetensorsTensor:
    def fail(problem: str) -> NoReturn:
        raise _Problem(problem, name)

    if not name:
        fail("a tensor needs a non-empty name")
    if not isinstance(entry, dict) or set(entry) != _TENSOR_KEYS:
        got = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        fail(f"must be an object with keys {sorted(_TENSOR_KEYS)}; got {got}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        fail(
            f"unsupported dtype {printable(str(dtype), 40)!r} (sparsecore reads "
            f"{', '.join(DTYPES)})"
        )
    if (
        not isinstance(shape, list)
        or len(shape) > _MAX_NDIM
        or not all(_int(d) and 0 <= d <= _MAX_DIM for d in shape)
    ):
        fail(
            f"shape must be a list of at most {_MAX_NDIM} ints in [0, 2**62]; "
            f"got {printable(repr(shape), 80)}"
        )
    if not (
        isinstance(offsets, list) and len(offsets) == 2 and all(map(_int, offsets))
    ):
        got = printable(repr(offsets), 80)
        fail(f"data_offsets must be [begin, end] ints; got {got}")
    begin, end = offsets
    if not 0 <= begin <= end <= data_len:
        fail(
            f"data_offsets [{begin}, {end}] are outside the {data_len} data bytes "
            "the file holds"
        )
    nbytes = math.prod(shape) * DTYPES[dtype].itemsize
    if end - begin != nbytes:
        fail(
            f"data_offsets [{begin}, {end}] hold {end - begin} bytes; its shape "
            f"{tuple(shape)} and dtype {dtype} need {nbytes}"
        )
    return SafetensorsTensor(name, dtype, tuple(shape), begin, end)


def _tensors(
    header: dict[str, Any], data_len: int
) -> tuple[dict[str, SafetensorsTensor], dict[str, str]]:
    meta = header.get("__metadata__")
    if meta is None:
        metadata: dict[str, str] = {}
    elif isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values()):
        metadata = dict(meta)
    else:
        raise _Problem("must be an object of strings to strings", "__metadata__")
    tensors = [
        _tensor(name, entry, data_len)
        for name, entry in header.items()
        if name != "__metadata__"
    ]
    # Sorted by offset (empty tensors first), each must start where the
    # previous one ends: no overlap (two names sharing bytes), no gap.
    pos = 0
    for t in sorted(tensors, key=lambda t: (t.begin, t.end)):
        if t.begin != pos:
            raise _Problem(
                f"data_offsets [{t.begin}, {t.end}] "
                + ("overlap the previous tensor" if t.begin < pos else "leave a gap")
                + f" (the tensors before it end at {pos}); tensors must be "
                "contiguous",
                t.name,
            )
        pos = t.end
    if pos != data_len:
        raise _Problem(
            f"the tensors cover {pos} bytes, but {data_len} data bytes follow the "
            "header (truncated, or extra data)"
        )
    return {t.name: t for t in tensors}, metadata


class SafetensorsFile:
    """Validating access to the tensors of one open, checked ``.safetensors`` file.

    Built by :func:`open_safetensors`.

    Attributes
    ----------
    path : str
    tensors : dict of str to SafetensorsTensor
        Every tensor, in the header's order.
    metadata : dict of str to str
        The ``__metadata__`` (empty if none).
    dtypes : dict of str to str
        Each tensor's dtype name in the file.
    """

    def __init__(
        self,
        path: str,
        fid: IO[bytes],
        data_start: int,
        tensors: dict[str, SafetensorsTensor],
        metadata: dict[str, str],
        error: type[ValueError],
    ) -> None:
        self.path, self.error = path, error
        self._fid, self._start = fid, data_start
        self.tensors, self.metadata = tensors, metadata
        self.dtypes = {name: t.dtype for name, t in tensors.items()}

    def fail(self, field: str, problem: str) -> NoReturn:
        """Raise ``self.error("<file>: <field>: <problem>")`` (one line)."""
        raise self.error(f"{self.path}: {printable(field)}: {problem}")

    def read(self, name: str) -> np.ndarray:
        """Tensor `name`: a new array (``BF16`` widened to float32, exactly).

        Its bytes are read in chunks (memory grows only with what the file
        holds); a ``BOOL`` tensor must hold only 0 and 1 bytes.
        """
        t = self.tensors.get(name)
        if t is None:
            self.fail(name, "missing tensor")
        nbytes = t.end - t.begin
        try:
            buf = np.empty(nbytes, np.uint8)
            view = memoryview(buf.data)
            self._fid.seek(self._start + t.begin)
            done = 0
            while done < nbytes:
                chunk = self._fid.read(min(_CHUNK, nbytes - done))
                if not chunk:
                    self.fail(name, f"truncated: read {done} of {nbytes} bytes")
                view[done : done + len(chunk)] = chunk
                done += len(chunk)
        except OSError as e:  # a read error of the device itself
            self.fail(name, f"unreadable (read error: {e.strerror or e})")
        except MemoryError:
            self.fail(name, f"unreadable (out of memory for {nbytes} bytes)")
        if t.dtype == "BOOL" and nbytes and int(buf.max()) > 1:
            self.fail(name, "must hold only 0 (False) and 1 (True) bytes")
        arr = buf.view(DTYPES[t.dtype]).reshape(t.shape)
        if t.dtype == "BF16":
            # bfloat16 is the top half of a float32: shift its bits up.
            return (arr.astype(np.uint32) << 16).view(np.float32)
        return arr


@contextmanager
def open_safetensors(
    path: str,
    error: type[ValueError] = SparseFormatError,
    *,
    passthrough: tuple[type[OSError], ...] = (FileNotFoundError, PermissionError),
) -> Iterator[SafetensorsFile]:
    """Open `path` as a ``.safetensors`` file, checking its whole header first.

    Parameters
    ----------
    path : str
    error : type of ValueError, default=SparseFormatError
        Raised for every problem with the file or its content.
    passthrough : tuple of OSError subclasses
        Errors from opening the file that propagate unchanged (default
        ``(FileNotFoundError, PermissionError)``).

    Yields
    ------
    SafetensorsFile
        Its header checked: names, dtypes, shapes and offsets.

    Raises
    ------
    error
        If the path is not a regular file, or the file is not a valid
        ``.safetensors`` file (see the module notes for every check).
    """
    with open_regular_file(path, error, passthrough=passthrough) as (fid, size):
        try:
            head = fid.read(8)
            if len(head) != 8:
                raise _Problem(f"{size} bytes: too short for the 8-byte header length")
            n = int.from_bytes(head, "little")
            if n > min(size - 8, MAX_HEADER_BYTES):
                raise _Problem(
                    f"the header length {n} exceeds "
                    + (
                        f"the {size - 8} bytes after it in the file"
                        if n > size - 8
                        else f"the {MAX_HEADER_BYTES}-byte limit"
                    )
                )
            raw = fid.read(n)
            if len(raw) != n:
                raise _Problem("truncated header")
            tensors, metadata = _tensors(_parse_header(raw.rstrip(b" ")), size - 8 - n)
        except _Problem as e:
            if e.field is not None:
                raise error(f"{path}: {printable(e.field)}: {e.problem}") from None
            raise error(
                f"{path}: not a readable .safetensors file ({e.problem})"
            ) from None
        except OSError as e:
            raise error(
                f"{path}: not a readable .safetensors file (read error: "
                f"{e.strerror or e})"
            ) from None
        yield SafetensorsFile(path, fid, 8 + n, tensors, metadata, error)
