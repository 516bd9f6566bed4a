"""File mutations shared by the fuzz tests: zip surgery, ``.npy`` and JSON edits.

:func:`structural` changes one member (drop, add, duplicate, rename, retype,
reshape, corrupt its ``.npy`` header or values, edit the JSON header,
recompress, reorder); :func:`raw` changes bytes (truncate, flip, overwrite,
insert, delete, zip directory, local header and end-record fields);
:data:`NON_NPZ` draws data that is no ``.npz`` at all.
"""

import io
import json
import re
import struct
import warnings
import zipfile

import numpy as np
from hypothesis import strategies as st

__all__ = [
    "DTYPES",
    "INTERESTING",
    "NON_NPZ",
    "is_compressed",
    "npy",
    "npy_header",
    "npy_parts",
    "raw",
    "read_members",
    "structural",
    "to_npy",
    "write_members",
]


def read_members(blob):
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return [(i.filename, zf.read(i)) for i in zf.infolist()]


def write_members(members, compressed=False):
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names
        with zipfile.ZipFile(buf, "w", compression=method) as zf:
            for name, data in members:
                zf.writestr(name, data)
    return buf.getvalue()


def is_compressed(blob):
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return any(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())


def npy(header_text, payload, version=(1, 0)):
    """A .npy member with an arbitrary header text (version 1.0 or 2.0 layout)."""
    h = header_text.encode("latin1", "replace")
    fmt, pre = ("<H", 10) if version == (1, 0) else ("<I", 12)
    pad = (-(pre + len(h) + 1)) % 64
    h += b" " * pad + b"\n"
    return b"\x93NUMPY" + bytes(version) + struct.pack(fmt, len(h)) + h + payload


def npy_parts(data):
    """(descr, fortran, shape, payload) of a .npy member, or None."""
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        read = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read(f)
    except Exception:  # a mutated member: not for this surgery
        return None
    return dtype, fortran, shape, data[f.tell() :]


def npy_header(descr, shape, fortran=False):
    return repr({"descr": descr, "fortran_order": fortran, "shape": tuple(shape)})


def to_npy(arr):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


DTYPES = [
    "<f4", "<f8", ">f4", ">f8", "<f2", "<i4", "<i8", ">i4", "<u4", "|b1", "|u1",
    "<c8", "<U3", "|S4", "|V8", "<M8[s]", "|O", "<i2",
]  # fmt: skip
INTERESTING = [0, 1, -1, 2, 7, 255, 2**15, 2**31 - 1, 2**31, 2**32, 2**40, 2**62, 2**63]
JSON_ATOMS = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(INTERESTING + [-(2**63), 10**30, 0.5, 1e308, -0.0]),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(
        [
            "float32",
            "float64",
            "float16",
            "csr",
            "dense",
            "relu",
            "softmax",
            "Dense",
            "ReLU",
            "Adam",
            "SGD",
            "MSE",
            "Pruner",
            "PolynomialDecay",
            "sparsecore.Checkpoint",
            "sparsecore.SparseModel",
            "magnitude",
            "global",
            "glorot_uniform",
            "dense_0/kernel",
        ]  # fmt: skip
    ),
)
JSON_VALUES = st.recursive(
    JSON_ATOMS,
    lambda c: (
        st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3)
    ),
    max_leaves=6,
)


def json_paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from json_paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from json_paths(v, (*prefix, i))


def mutate_json(data, header):
    paths = list(json_paths(header))
    path = data.draw(st.sampled_from(paths))
    op = data.draw(st.sampled_from(["replace", "nudge", "delete", "add", "dup"]))
    if not path:
        return data.draw(JSON_VALUES) if op == "replace" else header
    parent = header
    for p in path[:-1]:
        parent = parent[p]
    key = path[-1]
    value = parent[key]
    if op == "replace":
        parent[key] = data.draw(JSON_VALUES)
    elif (
        op == "nudge"
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    ):
        parent[key] = value + data.draw(st.sampled_from([-1, 1, 2, -(2**31), 2**31]))
    elif op == "delete":
        del parent[key]
    elif op == "add" and isinstance(value, dict):
        value[data.draw(st.text(max_size=6))] = data.draw(JSON_VALUES)
    elif op == "dup" and isinstance(value, list) and value:
        value.append(json.loads(json.dumps(value[-1])))
    else:
        parent[key] = data.draw(JSON_VALUES)
    return header


def structural(data, blob):
    """One member-level mutation, or the blob unchanged if it is not a zip."""
    members = read_members(blob)
    compressed = is_compressed(blob)
    names = [n for n, _ in members]
    op = data.draw(
        st.sampled_from(
            [
                "drop",
                "extra",
                "dup",
                "rename",
                "dtype",
                "shape",
                "npyheader",
                "version",
                "values",
                "json",
                "json",
                "json",
                "compress",
                "reorder",
                "deepjson",
            ]  # fmt: skip
        )
    )
    i = data.draw(st.integers(0, len(members) - 1)) if members else 0
    if not members:
        return blob
    name, payload = members[i]
    if op == "drop":
        members.pop(i)
    elif op == "extra":
        extra = data.draw(
            st.sampled_from(["junk.npy", "header.npy", "x", "a/b.npy", "weights/z.npy"])
        )
        content = data.draw(
            st.sampled_from([b"", b"junk", to_npy(np.zeros(3)), payload])
        )
        members.insert(data.draw(st.integers(0, len(members))), (extra, content))
    elif op == "dup":
        members.append(members[i])
    elif op == "rename":
        members[i] = (
            data.draw(st.sampled_from(names + ["header.npy", "q.npy"])),
            payload,
        )
    elif op in ("dtype", "shape", "npyheader", "version", "values"):
        parts = npy_parts(payload)
        if parts is None:
            return blob
        dtype, fortran, shape, raw = parts
        if op == "dtype":
            descr = data.draw(st.sampled_from(DTYPES))
            keep_bytes = data.draw(st.booleans())
            new = raw
            if not keep_bytes and descr not in ("|O", "<U3", "|S4", "|V8", "<M8[s]"):
                try:
                    new = to_npy(np.frombuffer(raw, dtype).astype(descr).reshape(shape))
                    members[i] = (name, new)
                    return write_members(members, compressed)
                except Exception:
                    new = raw
            members[i] = (name, npy(npy_header(descr, shape, fortran), new))
        elif op == "shape":
            new_shape = data.draw(
                st.one_of(
                    st.lists(st.sampled_from(INTERESTING + [-1, 3]), max_size=4),
                    st.just([*shape, 1]),
                    st.just(list(shape[::-1])),
                    st.just([]),
                )
            )
            members[i] = (name, npy(npy_header(dtype.str, new_shape, fortran), raw))
        elif op == "npyheader":
            text = data.draw(
                st.one_of(
                    st.text(max_size=40),
                    st.sampled_from(
                        [
                            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2)}",
                            "{'descr': [('a', '<f4', (2**62,))], "
                            "'fortran_order': False, 'shape': ()}",
                            "{'descr': '<f4', 'fortran_order': False, 'shape': (1.5,)}",
                            "{'descr': '<f4', 'shape': ()}",
                            "(" * 150 + ")" * 150,
                            "__import__('os').system('echo pwned')",
                            "{'descr': '<f4', 'fortran_order': 'x', 'shape': (3,)}",
                        ]
                    ),
                )
            )
            members[i] = (name, npy(text, raw))
        elif op == "version":
            version = data.draw(st.sampled_from([(2, 0), (3, 0), (0, 0), (9, 9)]))
            members[i] = (
                name,
                npy(npy_header(dtype.str, shape, fortran), raw, version),
            )
        else:  # values
            try:
                arr = np.load(io.BytesIO(payload), allow_pickle=False)
            except Exception:
                return blob
            if arr.size == 0 or arr.dtype.kind not in "biuf":
                return blob
            flat = arr.reshape(-1).copy()
            k = data.draw(st.integers(0, flat.size - 1))
            if arr.dtype.kind in "iu":
                v = data.draw(st.sampled_from([*INTERESTING[:-1], -1, -(2**31)]))
                flat[k] = np.array([v], np.int64).astype(arr.dtype)[0]  # may wrap
            elif arr.dtype.kind == "f":
                flat[k] = data.draw(
                    st.sampled_from([np.nan, np.inf, -np.inf, 3e38, -0.0])
                )
            else:
                flat = flat.view(np.uint8)
                flat[k] = data.draw(st.integers(0, 255))
                flat = flat.view(bool)
            members[i] = (name, to_npy(flat.reshape(arr.shape)))
    elif op == "json":
        idx = next((j for j, (n, _) in enumerate(members) if n == "header.npy"), None)
        if idx is None:
            return blob
        try:
            header = json.loads(
                str(np.load(io.BytesIO(members[idx][1]), allow_pickle=False))
            )
        except Exception:
            return blob
        header = mutate_json(data, header)
        members[idx] = ("header.npy", to_npy(np.array(json.dumps(header))))
    elif op == "deepjson":
        depth = data.draw(st.sampled_from([10, 1_000, 100_000]))
        text = data.draw(st.sampled_from(["[", '{"a":'])) * depth
        members = [
            (n, to_npy(np.array(text)) if n == "header.npy" else d) for n, d in members
        ]
    elif op == "compress":
        compressed = not compressed
    elif op == "reorder":
        members = members[::-1]
    return write_members(members, compressed)


CD_FIELDS = {  # central directory entry: offset, struct format
    "method": (10, "<H"),
    "crc": (16, "<I"),
    "csize": (20, "<I"),
    "usize": (24, "<I"),
    "namelen": (28, "<H"),
    "extralen": (30, "<H"),
    "offset": (42, "<I"),
}
LH_FIELDS = {
    "method": (8, "<H"),
    "csize": (18, "<I"),
    "usize": (22, "<I"),
    "namelen": (26, "<H"),
}


def raw(data, blob):
    """One byte-level mutation."""
    b = bytearray(blob)
    op = data.draw(
        st.sampled_from(
            [
                "truncate",
                "flip",
                "overwrite",
                "insert",
                "delete",
                "cd",
                "lh",
                "cd",
                "eocd",
            ]
        )
    )
    n = len(b)
    if op == "truncate":
        return bytes(b[: data.draw(st.integers(0, max(0, n - 1)))])
    if n == 0:
        return bytes(b)
    pos = data.draw(st.integers(0, n - 1))
    if op == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            p = data.draw(st.integers(0, n - 1))
            b[p] ^= data.draw(st.integers(1, 255))
    elif op == "overwrite":
        chunk = data.draw(st.binary(min_size=1, max_size=16))
        b[pos : pos + len(chunk)] = chunk
    elif op == "insert":
        b[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
    elif op == "delete":
        del b[pos : pos + data.draw(st.integers(1, 64))]
    elif op in ("cd", "lh"):
        sig, fields = (
            (b"PK\x01\x02", CD_FIELDS) if op == "cd" else (b"PK\x03\x04", LH_FIELDS)
        )
        starts = [m.start() for m in re.finditer(re.escape(sig), b)]
        if not starts:
            return bytes(b)
        start = data.draw(st.sampled_from(starts))
        off, fmt = fields[data.draw(st.sampled_from(sorted(fields)))]
        size = struct.calcsize(fmt)
        top = 2 ** (8 * size) - 1
        value = data.draw(
            st.sampled_from([0, 1, 8, 12, 14, 99, top, top // 2, 2**16])
            | st.integers(0, top)
        )
        if start + off + size <= n:
            b[start + off : start + off + size] = struct.pack(fmt, value % (top + 1))
    else:  # end of central directory: entry counts, size, offset
        i = b.rfind(b"PK\x05\x06")
        if i >= 0 and i + 22 <= n:
            off = data.draw(st.sampled_from([8, 10, 12, 16]))
            size = 2 if off < 12 else 4
            value = data.draw(st.integers(0, 2 ** (8 * size) - 1))
            b[i + off : i + off + size] = value.to_bytes(size, "little")
    return bytes(b)


NON_NPZ = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda t: b"PK\x03\x04" + t, st.binary(max_size=200)),
    st.builds(lambda t: b"PK\x05\x06" + t, st.binary(max_size=40)),
    st.just(to_npy(np.zeros((3, 3)))),
    st.just(b"\x80\x04\x95" + b"\x00" * 20),  # a pickle
    st.just(b"\x1f\x8b\x08\x00" + b"\x00" * 20),  # gzip
    st.builds(lambda s: s.encode(), st.text(max_size=80)),
)
