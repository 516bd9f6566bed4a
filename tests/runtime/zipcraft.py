"""Hand-made zip archives and .npy members, for the tests of hostile files.

:func:`build` writes local headers, data, a central directory and the end
records itself, so that every field can be set to what an attacker would
choose (sizes, offsets, order, flags, methods), independently of
:mod:`zipfile`. :func:`npy` and :func:`npy_raw` make ``.npy`` members.
"""

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Entry",
    "build",
    "central_entry",
    "deflate",
    "local_header",
    "npy",
    "npy_raw",
    "overlapping",
    "zip64_end",
]


def npy(arr):
    """The ``.npy`` bytes numpy writes for `arr` (never pickled)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(arr), allow_pickle=False)
    return buf.getvalue()


def npy_raw(header_text, payload=b"", version=(1, 0)):
    """A ``.npy`` member with an arbitrary header text (latin-1, padded to 64)."""
    h = header_text.encode("latin1") if isinstance(header_text, str) else header_text
    fmt, pre = ("<H", 10) if version == (1, 0) else ("<I", 12)
    h += b" " * ((-(pre + len(h) + 1)) % 64) + b"\n"
    return b"\x93NUMPY" + bytes(version) + struct.pack(fmt, len(h)) + h + payload


def deflate(data, level=9):
    """Raw DEFLATE (as zip members hold it)."""
    z = zlib.compressobj(level, zlib.DEFLATED, -15)
    return z.compress(data) + z.flush()


@dataclass
class Entry:
    """One member. `raw` overrides the stored bytes; None fields are computed."""

    name: str
    data: bytes = b""
    method: int = 0
    flags: int = 0
    raw: bytes | None = None
    crc: int | None = None
    usize: int | None = None
    csize: int | None = None
    local_name: str | None = None
    local_method: int | None = None

    def stored(self):
        if self.raw is not None:
            return self.raw
        return deflate(self.data) if self.method == 8 else self.data


def local_header(e, stored):
    """The local file header of `e` (stored bytes `stored`)."""
    name = (e.local_name if e.local_name is not None else e.name).encode()
    crc = zlib.crc32(e.data) if e.crc is None else e.crc
    usize = len(e.data) if e.usize is None else e.usize
    csize = len(stored) if e.csize is None else e.csize
    method = e.method if e.local_method is None else e.local_method
    head = struct.pack(
        "<4sHHHHHIIIHH",
        b"PK\x03\x04",
        20,
        e.flags,
        method,
        0,
        0x21,
        crc,
        csize,
        usize,
        len(name),
        0,
    )
    return head + name


def central_entry(e, stored, offset):
    """The central directory entry of `e` at local offset `offset`."""
    name = e.name.encode()
    crc = zlib.crc32(e.data) if e.crc is None else e.crc
    usize = len(e.data) if e.usize is None else e.usize
    csize = len(stored) if e.csize is None else e.csize
    head = struct.pack(
        "<4sHHHHHHIIIHHHHHII",
        b"PK\x01\x02",
        20,
        20,
        e.flags,
        e.method,
        0,
        0x21,
        crc,
        csize,
        usize,
        len(name),
        0,
        0,
        0,
        0,
        0,
        offset,
    )
    return head + name


def build(
    entries,
    *,
    directory=None,
    prefix=b"",
    suffix=b"",
    between=b"",
    comment=b"",
):
    """The bytes of a zip file holding `entries` in this order.

    Parameters
    ----------
    entries : list of Entry
        Written one after the other (with `between` after each local entry).
    directory : list of (Entry, int), optional
        The central directory: which entry at which local offset (default:
        every entry at its own offset, in order). Lets a test point several
        entries at overlapping data, or list them out of order.
    prefix, suffix : bytes
        Data before the first local header / after the end record.
    """
    out = bytearray(prefix)
    offsets = []
    for e in entries:
        offsets.append(len(out))
        stored = e.stored()
        out += local_header(e, stored) + stored + between
    if directory is None:
        directory = list(zip(entries, offsets, strict=True))
    cd_off = len(out)
    for e, off in directory:
        out += central_entry(e, e.stored(), off)
    cd_size = len(out) - cd_off
    n = len(directory)
    out += struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, n, n, cd_size, cd_off, len(comment)
    )
    return bytes(out + comment + suffix)


def zip64_end(blob):
    """`blob` (a zip without comment) with a zip64 end record and locator added."""
    eocd = blob.rindex(b"PK\x05\x06")
    _, _, _, n_disk, n, cd_size, cd_off, _ = struct.unpack_from(
        "<4sHHHHIIH", blob, eocd
    )
    rec_off = eocd
    record = struct.pack(
        "<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, n, n, cd_size, cd_off
    )
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, rec_off, 1)
    end = struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0
    )
    return blob[:eocd] + record + locator + end


def overlapping(names, kernel):
    """A zip whose entries overlap: each stores every later local header and
    the shared `kernel` (the construction of Fifield's non-recursive zip bomb,
    with the stored method). Each entry on its own is consistent: its sizes
    match, its CRC is right, its data lie inside the file."""
    entries, heads = [None] * len(names), [None] * len(names)
    tail = kernel
    for i in reversed(range(len(names))):
        entries[i] = Entry(names[i], tail)
        heads[i] = local_header(entries[i], tail)
        tail = heads[i] + tail
    offsets = np.cumsum([0] + [len(h) for h in heads[:-1]]).tolist()
    cd = b"".join(
        central_entry(e, e.data, off) for e, off in zip(entries, offsets, strict=True)
    )
    n = len(names)
    return (
        tail
        + cd
        + struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, n, n, len(cd), len(tail), 0)
    )
