"""Fuzzing the file readers: mutated checkpoints and SparseModel files.

Every mutated file must either load to a model that validates, or raise the
documented error (:class:`CheckpointFormatError` for checkpoints,
:class:`SparseFormatError` for SparseModel files, both ValueErrors naming the
file); never another exception, a crash or a hang (each load has a 10 s alarm).

Mutations: truncation, flipped/overwritten/inserted/deleted bytes, zip
directory and local-header fields (sizes, method, offsets), missing, extra and
duplicated members, swapped dtypes, declared shapes out of range or huge,
corrupt ``.npy`` headers and versions, out-of-range values (CSR indices,
NaN weights, non-0/1 bool bytes), JSON header edits (deleted, added and
replaced fields, nudged numbers) and non-npz data. Hypothesis draws chains of
them; deterministic sweeps add every member dropped, retyped and reshaped,
and truncations and flips at fixed positions. The number of cases tried is
printed at the end of the run (see conftest.py).
"""

import functools
import io
import json
import os
import re
import signal
import struct
import tempfile
import tokenize
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sparsecore as sc
from sparsecore.checkpoint import CheckpointFormatError, load_model
from sparsecore.prune import PolynomialDecay, Pruner
from sparsecore.runtime import SparseFormatError, SparseModel

EXAMPLES = int(os.environ.get("SPARSECORE_FUZZ_EXAMPLES", "800"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TIMEOUT_S = 10

# ---------------------------------------------------------------- valid files


def _data(n, n_in, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n_in)).astype(np.float32)
    return x, x[:, :2].sum(axis=1, keepdims=True)


def _checkpoints():
    """Three valid checkpoints: pruned Adam, float64 SGD, uncompiled."""
    out = {}
    x, y = _data(32, 6)
    m = sc.Sequential([sc.Dense(8), sc.ReLU(), sc.Dense(1)], input_dim=6, seed=0)
    m.compile("mse", sc.Adam(1e-2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(
            x,
            y,
            epochs=2,
            batch_size=8,
            verbose=0,
            callbacks=[Pruner(PolynomialDecay(0.0, 0.5, 1, 6, frequency=2))],
        )
    out["ckpt-pruned"] = (m, False)
    m = sc.Sequential(
        [sc.Dense(5), sc.LeakyReLU(0.2), sc.Dense(2, use_bias=False), sc.Softmax()],
        input_dim=4,
        seed=1,
        dtype="float64",
    )
    m.compile(sc.CategoricalCrossentropy(), sc.SGD(0.1, momentum=0.9))
    out["ckpt-sgd64-deflated"] = (m, True)
    out["ckpt-bare"] = (sc.Sequential([sc.Dense(3)], input_dim=2), False)
    blobs = {}
    with tempfile.TemporaryDirectory() as d:
        for name, (model, compressed) in out.items():
            path = os.path.join(d, name)
            model.save(path, compressed=compressed)
            with open(path, "rb") as f:
                blobs[name] = f.read()
    return blobs


def _sparse_models():
    """Three valid SparseModel files: CSR float32, dense float64, mixed."""
    rng = np.random.default_rng(0)

    def layers(widths, acts, density):
        out = []
        for n_in, n_out, act in zip(widths[:-1], widths[1:], acts, strict=True):
            w = rng.standard_normal((n_in, n_out)) * (
                rng.random((n_in, n_out)) < density
            )
            out.append((w, rng.standard_normal(n_out), act))
        return out

    models = {
        "sm-csr32": (
            SparseModel.from_layers(
                layers([6, 8, 3], ["relu", ("leaky_relu", 0.1)], 0.4),
                format="csr",
                compact=False,
            ),
            False,
        ),
        "sm-dense64-deflated": (
            SparseModel.from_layers(
                layers([4, 5, 2], ["tanh", "softmax"], 1.0),
                format="dense",
                dtype="float64",
                compact=False,
            ),
            True,
        ),
    }
    mixed = layers([5, 7, 1], ["sigmoid", "linear"], 0.5)
    a = SparseModel.from_layers(mixed, format="csr", compact=False)
    b = SparseModel.from_layers(mixed, format="dense", compact=False)
    models["sm-mixed"] = (SparseModel([a.layers[0], b.layers[1]], 5), False)
    blobs = {}
    with tempfile.TemporaryDirectory() as d:
        for name, (sm, compressed) in models.items():
            path = os.path.join(d, name)
            sm.save(path, compressed=compressed)
            with open(path, "rb") as f:
                blobs[name] = f.read()
    return blobs


@functools.lru_cache(maxsize=1)
def bases():
    return {**_checkpoints(), **_sparse_models()}


def kind_of(name):
    return "checkpoint" if name.startswith("ckpt") else "sparsemodel"


# ---------------------------------------------------------------- the oracle


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"a load took more than {TIMEOUT_S} s")


def _validate_checkpoint(model):
    cfg = model.get_config()
    assert isinstance(model, sc.Sequential) and cfg["input_dim"] >= 1
    for name, w in model.weights().items():
        assert w.dtype == model.dtype and np.isfinite(w).all(), name
    if model.optimizer is not None:
        for name, w in model.weights().items():
            for a in model.optimizer.state[name].values():
                assert a.shape == w.shape and np.isfinite(a).all()
    if model.pruner is not None:
        live = model.weights()
        for name, m in model.pruner.masks.items():
            assert m.dtype == bool and m.shape == live[name].shape
            assert (m.view(np.uint8) <= 1).all()
    x = np.zeros((2, cfg["input_dim"]), model.dtype)
    with np.errstate(all="ignore"):
        assert model.predict(x).shape == (2, model.output_dim)


def _validate_sparse(sm):
    x = np.zeros((2, sm.input_dim), sm.dtype)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert sm.predict(x).shape == (2, sm.output_dim)


# Known bugs, reported to the lead (sparsecore/runtime/npz.py and io.py are not ours).
# Found by this fuzz and fixed in 6d342ac: zip errors (BadZipFile, OSError,
# NotImplementedError) and numpy's TokenError escaping, and an 8 TiB
# allocation from a 2 KB file. Still open: a deeply nested JSON header raises
# RecursionError (json.loads; only ValueError is caught). While
# runtime_escapes() sees any of these, such escapes from the runtime reader
# count as "known-bug" instead of failing the fuzz, and
# test_runtime_reader_zip_errors is an xfail; once fixed, the probe comes back
# empty, the marker is inert and the fuzz is strict again.
KNOWN_RUNTIME_ESCAPES = (
    RecursionError,
    zipfile.BadZipFile,
    NotImplementedError,
    OSError,
    tokenize.TokenError,
    SyntaxError,
)


def _huge_sparse_model():
    """A valid-looking 2 KB file declaring an 8 TiB kernel, sizes consistent."""
    n_in, n_out = 2**31 - 1, 2**10
    layer = {"format": "dense", "n_in": n_in, "n_out": n_out, "nnz": n_in * n_out}
    layer |= {"activation": "linear", "alpha": 0.0, "original_shape": [n_in, n_out]}
    header = {"format": "sparsecore.SparseModel", "version": 1, "dtype": "float32"}
    header |= {"input_dim": n_in, "batch_size": 1, "layers": [layer]}
    kernel = npy(npy_header("<f4", (n_out, n_in)), b"\0" * 64)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("header.npy", to_npy(np.array(json.dumps(header))))
        zf.writestr("layers/0/bias.npy", to_npy(np.zeros(n_out, np.float32)))
        zf.writestr("layers/0/kernel_t.npy", kernel)
        info = zf.filelist[-1]  # the central directory (zip64) will claim it all
        info.file_size = info.compress_size = len(kernel) - 64 + n_in * n_out * 4
    return buf.getvalue()


@functools.lru_cache(maxsize=1)
def runtime_escapes():
    """Exceptions other than SparseFormatError SparseModel.load lets out, by case."""
    blob = bases()["sm-csr32"]
    cases = {}
    local = bytearray(blob)
    i = local.rfind(b"PK\x03\x04", 0, local.find(b"header.npy"))
    local[i + 30] ^= 0x20  # the local header's file name no longer matches
    cases["local header name differs"] = bytes(local)
    for member in (b"header.npy", b"layers/0/bias.npy"):
        cd = bytearray(blob)
        j = cd.rfind(b"PK\x01\x02", 0, cd.rfind(member))
        cd[j + 10 : j + 12] = struct.pack("<H", 99)  # unknown compression method
        cases[f"unknown compression of {member.decode()}"] = bytes(cd)
    members = read_members(blob)
    members = [
        (n, npy("{", b"") if n == "layers/0/bias.npy" else d) for n, d in members
    ]
    cases["npy header '{'"] = write_members(members)
    cases["huge declared size (zip64)"] = _huge_sparse_model()
    deep = to_npy(np.array("[" * 100_000 + "]" * 100_000))
    cases["deeply nested JSON header"] = write_members([("header.npy", deep)])
    escapes = {}
    with tempfile.TemporaryDirectory() as d:
        for case, data in cases.items():
            path = os.path.join(d, "m.npz")
            with open(path, "wb") as f:
                f.write(data)
            try:
                SparseModel.load(path)
            except SparseFormatError:
                pass
            except (Exception, MemoryError) as e:  # what escapes is the finding
                escapes[case] = f"{type(e).__name__}: {e}"
    return escapes


def _from_runtime_format(exc):
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name.endswith(
            (os.path.join("runtime", "io.py"), os.path.join("runtime", "npz.py"))
        ):
            return True
        tb = tb.tb_next
    return False


REFUSED = ("refused", "known-bug")


def check(kind, blob, counts):
    """Load `blob` as `kind`: a valid model or the documented error, nothing else."""
    fd, path = tempfile.mkstemp(suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, TIMEOUT_S)
        try:
            if kind == "checkpoint":
                try:
                    obj = load_model(path)
                except CheckpointFormatError as e:
                    assert str(e).startswith(path + ": "), e
                    outcome = "refused"
                else:
                    outcome = "loaded"
            else:
                try:
                    obj = SparseModel.load(path)
                except SparseFormatError as e:
                    assert str(e).startswith(path), e
                    outcome = "refused"
                except KNOWN_RUNTIME_ESCAPES as e:
                    if not (runtime_escapes() and _from_runtime_format(e)):
                        raise
                    outcome = "known-bug"
                else:
                    outcome = "loaded"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        if outcome == "loaded":
            (_validate_checkpoint if kind == "checkpoint" else _validate_sparse)(obj)
        counts[(kind, outcome)] += 1
        return outcome
    finally:
        os.remove(path)


# ---------------------------------------------------------------- zip surgery


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


# ---------------------------------------------------------------- hypothesis


@pytest.mark.parametrize("kind", ["checkpoint", "sparsemodel"])
@FUZZ
@given(data=st.data())
def test_fuzz_mutated_files(fuzz_counts, kind, data):
    names = sorted(n for n in bases() if kind_of(n) == kind)
    original = blob = bases()[data.draw(st.sampled_from(names), label="base")]
    for _ in range(data.draw(st.integers(0, 2), label="structural")):
        blob = structural(data, blob)
    for _ in range(data.draw(st.integers(int(blob == original), 2), label="raw")):
        blob = raw(data, blob)
    check(kind, blob, fuzz_counts)


@pytest.mark.parametrize("kind", ["checkpoint", "sparsemodel"])
@settings(FUZZ, max_examples=max(20, EXAMPLES // 5))
@given(blob=NON_NPZ)
def test_fuzz_non_npz_data(fuzz_counts, kind, blob):
    assert check(kind, blob, fuzz_counts) in REFUSED


# ---------------------------------------------------------------- sweeps


@pytest.mark.parametrize("name", sorted(bases()))
def test_sweep_truncations_and_flips(fuzz_counts, name):
    blob = bases()[name]
    n = len(blob)
    cuts = sorted({*range(0, n, max(1, n // 120)), *range(max(0, n - 80), n)})
    for cut in cuts:
        assert check(kind_of(name), blob[:cut], fuzz_counts) in REFUSED
    for pos in range(0, n, max(1, n // 150)):
        b = bytearray(blob)
        b[pos] ^= 0xFF
        check(kind_of(name), bytes(b), fuzz_counts)


@pytest.mark.parametrize("name", sorted(bases()))
def test_sweep_members(fuzz_counts, name):
    blob = bases()[name]
    kind = kind_of(name)
    members = read_members(blob)
    compressed = is_compressed(blob)
    for i, (member, payload) in enumerate(members):
        dropped = members[:i] + members[i + 1 :]
        assert check(kind, write_members(dropped, compressed), fuzz_counts) in REFUSED
        dtype, fortran, shape, raw_bytes = npy_parts(payload)
        for descr in DTYPES:
            if np.dtype(descr) == dtype:
                continue
            swapped = npy(npy_header(descr, shape, fortran), raw_bytes)
            changed = [*members[:i], (member, swapped), *members[i + 1 :]]
            assert (
                check(kind, write_members(changed, compressed), fuzz_counts) in REFUSED
            )
        for bad in ([*shape, 2], [2**40] * max(1, len(shape)), [-1], [2**62, 2**62]):
            reshaped = npy(npy_header(dtype.str, bad, fortran), raw_bytes)
            changed = [*members[:i], (member, reshaped), *members[i + 1 :]]
            assert (
                check(kind, write_members(changed, compressed), fuzz_counts) in REFUSED
            )


@pytest.mark.xfail(
    bool(runtime_escapes()),
    reason=f"the runtime reader lets zip errors escape: {runtime_escapes()}",
    strict=True,
)
def test_runtime_reader_zip_errors():
    assert runtime_escapes() == {}
