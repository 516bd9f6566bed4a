"""SparseModel files: bit-exact round trips, binsparse layers, old files, and every
malformed file is rejected."""

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparsecore.runtime import SparseFormatError, SparseModel
from sparsecore.runtime.atomic import atomic_savez
from tests.runtime.rt_helpers import ACTS, random_layers, tutorial_layers


def _model(fmt="csr", dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    layers = random_layers(rng, [6, 8, 5, 2], ["relu", "leaky_relu", "softmax"], 0.6)
    return SparseModel.from_layers(layers, format=fmt, dtype=dtype, compact=False)


def _assert_same(a, b):
    assert len(a.layers) == len(b.layers)
    for la, lb in zip(a.layers, b.layers, strict=True):
        assert la.format == lb.format and la.activation == lb.activation
        assert la.alpha == lb.alpha and la.original_shape == lb.original_shape
        np.testing.assert_array_equal(la.bias, lb.bias)
        assert la.bias.dtype == lb.bias.dtype
        if la.format == "csr":
            for f in ("data", "indices", "indptr"):
                x, y = getattr(la.weight, f), getattr(lb.weight, f)
                assert x.dtype == y.dtype and np.array_equal(x, y)
        else:
            assert la.weight.dtype == lb.weight.dtype
            np.testing.assert_array_equal(la.weight, lb.weight)


@given(
    seed=st.integers(0, 2**32 - 1),
    fmt=st.sampled_from(["auto", "csr", "dense"]),
    dtype=st.sampled_from(["float32", "float64"]),
    sparsity=st.floats(0, 0.999),
    structured=st.booleans(),
    compressed=st.booleans(),
    acts=st.lists(st.sampled_from(ACTS), min_size=2, max_size=2),
)
def test_round_trip_bit_exact(
    tmp_path_factory, seed, fmt, dtype, sparsity, structured, compressed, acts
):
    rng = np.random.default_rng(seed)
    layers = random_layers(rng, [5, 7, 3], acts, sparsity, structured)
    sm = SparseModel.from_layers(layers, format=fmt, dtype=dtype, batch_size=16)
    path = tmp_path_factory.mktemp("rt") / "m.npz"
    sm.save(path, compressed=compressed)
    back = SparseModel.load(path, format="saved")
    _assert_same(sm, back)
    assert back.batch_size == 16 and back.dtype == sm.dtype
    x = rng.standard_normal((4, 5))
    np.testing.assert_array_equal(back.predict(x), sm.predict(x))


def test_saved_sizes_of_tutorial_model(tmp_path):
    layers = tutorial_layers(0.9)
    dense = SparseModel.from_layers(layers, format="dense", compact=False)
    sparse = SparseModel.from_layers(layers, format="csr")
    dense.save(tmp_path / "d.npz")
    sparse.save(tmp_path / "s.npz")
    sparse.save(tmp_path / "c.npz", compressed=True)
    d, s, c = (os.path.getsize(tmp_path / n) for n in ("d.npz", "s.npz", "c.npz"))
    assert d > 8_000_000
    assert s < 0.25 * d  # 10 % of the weights at 8 bytes each (+ indptr)
    assert c < s


def test_file_is_plain_npz(tmp_path):
    path = tmp_path / "m.npz"
    _model().save(path)
    with np.load(path, allow_pickle=False) as f:
        header = json.loads(str(f["header"]))
        assert header["format"] == "sparsecore.SparseModel" and header["version"] == 2
        assert f["layers/0/indices_1"].dtype == np.int32
        names = set(f.files)
    assert "layers/2/pointers_to_1" in names and "layers/0/kernel_t" not in names


@pytest.mark.parametrize("fmt", ["csr", "dense"])
def test_layers_load_without_sparsecore_from_the_documented_members(tmp_path, fmt):
    # docs/formats.md: W (n_out, n_in) from the binsparse members; the layer
    # computes act(x @ W.T + bias). The oracle: the model's own kernels.
    import scipy.sparse as sp

    sm = _model(fmt)
    path = tmp_path / "m.npz"
    sm.save(path)
    with np.load(path, allow_pickle=False) as f:
        for i, layer in enumerate(sm.layers):
            p = f"layers/{i}/"
            desc = json.loads(str(f[p + "binsparse"]))["binsparse"]
            assert desc["version"] == "0.1.0"
            assert desc["format"] == ("CSR" if fmt == "csr" else "DMATR")
            assert desc["data_types"]["values"] == "float32"
            if fmt == "csr":
                w = sp.csr_array(
                    (f[p + "values"], f[p + "indices_1"], f[p + "pointers_to_1"]),
                    shape=tuple(desc["shape"]),
                ).toarray()
                assert desc["number_of_stored_values"] == f[p + "values"].size
            else:
                w = f[p + "values"].reshape(desc["shape"])
            np.testing.assert_array_equal(w, layer.kernel().T)
            np.testing.assert_array_equal(f[p + "bias"], layer.bias)


@pytest.mark.parametrize("fmt", ["csr", "dense"])
def test_binsparse_reference_reader_loads_each_layer(tmp_path, fmt):
    # The binsparse reference implementation (PyPI "binsparse") as the oracle,
    # when it is installed.
    container = pytest.importorskip("binsparse.container")
    tensor = pytest.importorskip("binsparse.tensor")
    sm = _model(fmt)
    sm.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        for i, layer in enumerate(sm.layers):
            p = f"layers/{i}/"
            group = {n[len(p) :]: f[n] for n in f.files if n.startswith(p)}
            t = tensor.BinsparseTensor.parse(container.NPZBinsparseContainer(group))
            n_in, n_out = layer.shape
            assert tuple(t.shape) == (n_out, n_in)
            w = layer.kernel().T
            if fmt == "csr":
                np.testing.assert_array_equal(t.values, w[w != 0])
                assert t.number_of_stored_values == layer.nnz
            else:
                np.testing.assert_array_equal(
                    np.asarray(t.values).reshape(-1), w.ravel()
                )


# ------------------------------------------------------------- malformed


def _arrays(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _header(arrays):
    return json.loads(str(arrays["header"]))


def _with_header(arrays, header):
    return {**arrays, "header": np.array(json.dumps(header))}


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.npz"
    _model().save(path)
    return path


def _rewrite(tmp_path, arrays):
    bad = tmp_path / "bad.npz"
    atomic_savez(bad, arrays)
    return bad


def _edit(fn):
    def apply(a):
        a = dict(a)
        fn(a)
        return a

    return apply


def _hdr(fn):
    def apply(a):
        h = _header(a)
        fn(h)
        return _with_header(a, h)

    return apply


def _desc(i, fn):
    """Edit layer `i`'s binsparse descriptor."""

    def apply(a):
        key = f"layers/{i}/binsparse"
        outer = json.loads(str(a[key]))
        fn(outer["binsparse"])
        return {**a, key: np.array(json.dumps(outer))}

    return apply


MUTATIONS = {
    "indices out of range": (
        _edit(lambda a: a["layers/0/indices_1"].__setitem__(0, 6)),
        "layers/0/pointers_to_1/indices_1: indices must be in",
    ),
    "negative index": (
        _edit(lambda a: a["layers/0/indices_1"].__setitem__(-1, -1)),
        "indices must be in",
    ),
    "indptr decreasing": (
        _edit(
            lambda a: a.__setitem__(
                "layers/1/pointers_to_1", a["layers/1/pointers_to_1"][::-1].copy()
            )
        ),
        "layers/1/pointers_to_1",
    ),
    "indptr wrong length": (
        _edit(
            lambda a: a.__setitem__(
                "layers/1/pointers_to_1", a["layers/1/pointers_to_1"][:-1].copy()
            )
        ),
        r"layers/1/pointers_to_1: shape must be \(6,\)",
    ),
    "indices unsorted": (
        _edit(lambda a: a["layers/0/indices_1"].__setitem__(slice(0, 2), [1, 0])),
        "sorted",
    ),
    "wrong dtype indices": (
        _edit(
            lambda a: a.__setitem__(
                "layers/0/indices_1", a["layers/0/indices_1"].astype(np.int64)
            )
        ),
        "layers/0/indices_1: dtype must be int32; got int64",
    ),
    "wrong dtype data": (
        _edit(
            lambda a: a.__setitem__(
                "layers/0/values", a["layers/0/values"].astype(np.float64)
            )
        ),
        "layers/0/values: dtype must be float32; got float64",
    ),
    "wrong dtype bias": (
        _edit(
            lambda a: a.__setitem__(
                "layers/2/bias", a["layers/2/bias"].astype(np.int32)
            )
        ),
        "layers/2/bias: dtype must be",
    ),
    "bias wrong shape": (
        _edit(lambda a: a.__setitem__("layers/2/bias", np.zeros(3, np.float32))),
        r"layers/2/bias: shape must be \(2,\)",
    ),
    "data shorter than nnz": (
        _edit(
            lambda a: a.__setitem__("layers/0/values", a["layers/0/values"][:-1].copy())
        ),
        "layers/0/values: shape must be",
    ),
    "non-finite weight": (
        _edit(lambda a: a["layers/1/values"].__setitem__(0, np.inf)),
        "layers/1/values: weights must be finite",
    ),
    "missing member": (
        _edit(lambda a: a.pop("layers/1/bias")),
        "layers/1/bias: missing member",
    ),
    "unknown member": (
        _edit(lambda a: a.__setitem__("extra", np.zeros(1))),
        "extra: unknown member",
    ),
    "missing header": (_edit(lambda a: a.pop("header")), "header: missing member"),
    "unknown version": (
        _hdr(lambda h: h.__setitem__("version", 3)),
        "header.version: unsupported version 3",
    ),
    "wrong format name": (
        _hdr(lambda h: h.__setitem__("format", "keras")),
        "header.format: must be",
    ),
    "shapes not chaining": (
        _hdr(lambda h: h["layers"][1].__setitem__("n_in", 7)),
        "header.layers.1..n_in: shapes do not chain",
    ),
    "input_dim mismatch": (
        _hdr(lambda h: h.__setitem__("input_dim", 5)),
        "shapes do not chain",
    ),
    "nnz beyond shape": (
        _desc(0, lambda d: d.__setitem__("number_of_stored_values", 10**9)),
        r"number_of_stored_values: must be an int in \[0, 48\]",
    ),
    "declared nnz differs from data": (
        _desc(
            0,
            lambda d: d.__setitem__(
                "number_of_stored_values", d["number_of_stored_values"] - 1
            ),
        ),
        "layers/0/values: shape must be",
    ),
    "descriptor shape transposed": (
        _desc(1, lambda d: d.__setitem__("shape", d["shape"][::-1])),
        r"layers/1/binsparse.binsparse.shape: must be \[n_out, n_in\] = \[5, 8\]",
    ),
    "descriptor data type": (
        _desc(0, lambda d: d["data_types"].__setitem__("indices_1", "int64")),
        "layers/0/binsparse.binsparse.data_types: must be",
    ),
    "descriptor version": (
        _desc(0, lambda d: d.__setitem__("version", "2.0")),
        "binsparse.version: must be '0.1.0'",
    ),
    "descriptor extra key": (
        _desc(0, lambda d: d.__setitem__("fill", True)),
        "layers/0/binsparse.binsparse: must be an object with keys",
    ),
    "descriptor not namespaced": (
        _edit(
            lambda a: a.__setitem__(
                "layers/0/binsparse",
                np.array(
                    json.dumps(json.loads(str(a["layers/0/binsparse"]))["binsparse"])
                ),
            )
        ),
        'must be a JSON object {"binsparse": descriptor}',
    ),
    "descriptor missing": (
        _edit(lambda a: a.pop("layers/2/binsparse")),
        "layers/2/binsparse: missing member",
    ),
    "descriptor deeply nested": (
        _edit(lambda a: a.__setitem__("layers/0/binsparse", np.array("[" * 2000))),
        "layers/0/binsparse: (invalid JSON|too long)",
    ),
    "unknown activation": (
        _hdr(lambda h: h["layers"][0].__setitem__("activation", "gelu")),
        "activation: must be one of",
    ),
    "bool as int": (
        _hdr(lambda h: h.__setitem__("batch_size", True)),
        "header.batch_size: must be an int",
    ),
    "extra header key": (
        _hdr(lambda h: h.__setitem__("pickle", 1)),
        "header: keys must be",
    ),
    "unknown layer format": (
        _desc(0, lambda d: d.__setitem__("format", "COO")),
        "format: must be 'CSR' or 'DMATR'",
    ),
    "non-finite alpha": (
        _hdr(lambda h: h["layers"][1].__setitem__("alpha", float("nan"))),
        "alpha: must be a finite number",
    ),
    "header not json": (
        _edit(lambda a: a.__setitem__("header", np.array("{not json"))),
        "header: invalid JSON",
    ),
    "header deeply nested": (
        _edit(lambda a: a.__setitem__("header", np.array("[" * 50_000 + "]" * 50_000))),
        "header: invalid JSON",
    ),
    "header not a string": (
        _edit(lambda a: a.__setitem__("header", np.zeros(3))),
        "header: must be a 0-d str array",
    ),
    "dense instead of csr members": (
        _desc(
            0,
            lambda d: d.update(
                format="DMATR",
                number_of_stored_values=48,
                data_types={"values": "float32"},
            ),
        ),
        "layers/0/indices_1: unknown member",
    ),
}


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_malformed_content_raises(tmp_path, good, case):
    mutate, match = MUTATIONS[case]
    bad = _rewrite(tmp_path, mutate(_arrays(good)))
    with pytest.raises(SparseFormatError, match=match) as info:
        SparseModel.load(bad)
    assert str(bad) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_object_array_refused_without_unpickling(tmp_path, good):
    arrays = _arrays(good)
    arrays["layers/0/bias"] = np.array([object()] * 8, dtype=object)
    bad = tmp_path / "obj.npz"
    np.savez(bad, **arrays)  # numpy pickles the object array
    with pytest.raises(SparseFormatError, match="layers/0/bias: object arrays"):
        SparseModel.load(bad)


@given(cut=st.floats(0.0, 0.999))
def test_truncated_files_raise(tmp_path_factory, cut):
    folder = tmp_path_factory.mktemp("trunc")
    path = folder / "m.npz"
    _model(fmt="dense").save(path)
    raw = path.read_bytes()
    (folder / "t.npz").write_bytes(raw[: int(len(raw) * cut)])
    with pytest.raises(SparseFormatError):
        SparseModel.load(folder / "t.npz")


@pytest.mark.parametrize("compressed", [False, True])
def test_corrupted_bytes_raise(tmp_path, compressed):
    path = tmp_path / "m.npz"
    _model(fmt="dense").save(path, compressed=compressed)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("layers/1/values.npy")
    # flip bytes inside the member's data (after its local header and extra)
    extra = int.from_bytes(
        raw[info.header_offset + 28 : info.header_offset + 30], "little"
    )
    start = info.header_offset + 30 + len(info.filename) + extra
    pos = start + info.compress_size // 2
    raw[pos : pos + 8] = b"\xff" * 8
    (tmp_path / "c.npz").write_bytes(bytes(raw))
    with pytest.raises(SparseFormatError, match="layers/1/values"):
        SparseModel.load(tmp_path / "c.npz")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "not a readable .npz archive"),
        (b"hello, not a zip at all", "not a readable .npz archive"),
        (b"\x80\x04K\x01.", "not a readable .npz archive"),  # a pickle
    ],
)
def test_not_an_archive(tmp_path, content, match):
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    with pytest.raises(SparseFormatError, match=match):
        SparseModel.load(path)


def test_single_npy_and_directory(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(SparseFormatError, match="single .npy"):
        SparseModel.load(tmp_path / "a.npy")
    with pytest.raises(SparseFormatError):
        SparseModel.load(tmp_path)


def test_zip_with_foreign_member(tmp_path, good):
    bad = tmp_path / "z.npz"
    shutil.copy(good, bad)
    with zipfile.ZipFile(bad, "a") as z:
        z.writestr("notes.txt", "hi")
    with pytest.raises(SparseFormatError, match="notes.txt: is not a .npy member"):
        SparseModel.load(bad)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        SparseModel.load(tmp_path / "nope.npz")


# ------------------------------------------------------------- numpy only

_NUMPY_ONLY = """
import sys
sys.modules["scipy"] = None  # any 'import scipy...' now raises ImportError
sys.modules["numba"] = None
import numpy as np
{import_line}
sm = SparseModel.load({path!r})
assert sm.backend == "numpy", sm.backend
x = np.load({xpath!r})
np.testing.assert_allclose(sm.predict(x), np.load({ypath!r}), rtol=1e-5, atol=1e-6)
sm2 = SparseModel.from_layers([(np.eye(3), None, "relu")], format="csr")
assert sm2.predict(np.ones((1, 3))).tolist() == [[1.0, 1.0, 1.0]]
assert not any(m == "scipy" or m.startswith(("scipy.", "numba")) for m in sys.modules
               if sys.modules[m] is not None)
print("OK")
"""


def _numpy_only_case(tmp_path):
    rng = np.random.default_rng(9)
    layers = random_layers(rng, [20, 30, 30, 4], ["relu", "tanh", "softmax"], 0.9)
    sm = SparseModel.from_layers(layers, format="csr")
    x = rng.standard_normal((7, 20)).astype(np.float32)
    sm.save(tmp_path / "m.npz")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", sm.predict(x))
    return {
        "path": str(tmp_path / "m.npz"),
        "xpath": str(tmp_path / "x.npy"),
        "ypath": str(tmp_path / "y.npy"),
    }


def _run(code, cwd):
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("OK")


def test_runtime_works_without_scipy(tmp_path):
    paths = _numpy_only_case(tmp_path)
    code = _NUMPY_ONLY.format(
        import_line="from sparsecore.runtime import SparseModel", **paths
    )
    _run(textwrap.dedent(code), tmp_path)


def test_vendored_runtime_folder_needs_only_numpy(tmp_path):
    # Copy sparsecore/runtime elsewhere under another name and block both
    # sparsecore and scipy: the folder is self-contained.
    import sparsecore.runtime as rt

    paths = _numpy_only_case(tmp_path)
    shutil.copytree(
        os.path.dirname(rt.__file__),
        tmp_path / "vendored_rt",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    code = "import sys\nsys.modules['sparsecore'] = None\n" + _NUMPY_ONLY.format(
        import_line="from vendored_rt import SparseModel", **paths
    )
    _run(code, tmp_path)


def test_duplicate_member_refused(tmp_path, good):
    bad = tmp_path / "dup.npz"
    shutil.copy(good, bad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: duplicate name
        with zipfile.ZipFile(bad, "a") as z:
            z.writestr("layers/0/bias.npy", b"x")
    with pytest.raises(SparseFormatError, match="duplicate member"):
        SparseModel.load(bad)


def test_unknown_compression_refused(tmp_path, good):
    raw = bytearray(good.read_bytes())
    j = raw.rfind(b"PK\x01\x02", 0, raw.rfind(b"layers/0/bias.npy"))
    raw[j + 10 : j + 12] = (99).to_bytes(2, "little")  # central directory method
    (tmp_path / "c.npz").write_bytes(bytes(raw))
    with pytest.raises(SparseFormatError, match="layers/0/bias: unreadable"):
        SparseModel.load(tmp_path / "c.npz")


def test_huge_declared_size_does_not_allocate(tmp_path):
    # A 2 KB file whose header and zip directory both claim an 8 TiB kernel.
    n_in, n_out = 2**31 - 1, 2**10
    layer = {
        "format": "dense",
        "n_in": n_in,
        "n_out": n_out,
        "nnz": n_in * n_out,
        "activation": "linear",
        "alpha": 0.0,
        "original_shape": [n_in, n_out],
    }
    header = {
        "format": "sparsecore.SparseModel",
        "version": 1,
        "dtype": "float32",
        "input_dim": n_in,
        "batch_size": 1,
        "layers": [layer],
    }

    def npy(arr_or_header, data=b""):
        buf = io.BytesIO()
        if isinstance(arr_or_header, np.ndarray):
            np.lib.format.write_array(buf, arr_or_header, allow_pickle=False)
        else:
            np.lib.format.write_array_header_1_0(buf, arr_or_header)
            buf.write(data)
        return buf.getvalue()

    kernel = npy(
        {"descr": "<f4", "fortran_order": False, "shape": (n_out, n_in)}, b"\0" * 64
    )
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("header.npy", npy(np.array(json.dumps(header))))
        zf.writestr("layers/0/bias.npy", npy(np.zeros(n_out, np.float32)))
        zf.writestr("layers/0/kernel_t.npy", kernel)
        info = zf.filelist[-1]
        info.file_size = info.compress_size = len(kernel) - 64 + n_in * n_out * 4
    assert os.path.getsize(path) < 10_000
    with pytest.raises(SparseFormatError, match="layers/0/kernel_t"):
        SparseModel.load(path)


# ------------------------------------------------------------- issue 10
def _leaky_model(dtype):
    layers = [(np.eye(3), None, ("leaky_relu", 0.2)), (np.ones((3, 2)), None, None)]
    return SparseModel.from_layers(layers, format="csr", dtype=dtype, compact=False)


@pytest.mark.parametrize(
    ("alpha", "dtype"),
    [(10**400, "float64"), (-(10**400), "float32"), (1e308, "float32"),
     (-1e308, "float32"), (3.5e38, "float32"), (float("inf"), "float64"),
     (True, "float32")],
)  # fmt: skip
def test_alpha_must_be_finite_in_the_model_dtype(tmp_path, alpha, dtype):
    path = tmp_path / "m.npz"
    _leaky_model(dtype).save(path)
    arrays = _arrays(path)
    h = _header(arrays)
    h["layers"][0]["alpha"] = alpha
    bad = _rewrite(tmp_path, _with_header(arrays, h))
    with pytest.raises(SparseFormatError, match=r"layers.0..alpha: must be a finite"):
        SparseModel.load(bad)


def test_large_alpha_finite_in_float64_loads(tmp_path):
    path = tmp_path / "m.npz"
    _leaky_model("float64").save(path)
    arrays = _arrays(path)
    h = _header(arrays)
    h["layers"][0]["alpha"] = 1e308
    sm = SparseModel.load(_rewrite(tmp_path, _with_header(arrays, h)))
    assert sm.layers[0].alpha == 1e308


def test_softmax_over_zero_units_refused_at_load(tmp_path):
    header = {
        "format": "sparsecore.SparseModel",
        "version": 1,
        "dtype": "float32",
        "input_dim": 3,
        "batch_size": 1,
        "layers": [
            {"format": "dense", "n_in": 3, "n_out": 0, "nnz": 0,
             "activation": "softmax", "alpha": 0.0, "original_shape": [3, 0]}
        ],
    }  # fmt: skip
    arrays = {
        "header": np.array(json.dumps(header)),
        "layers/0/bias": np.zeros(0, np.float32),
        "layers/0/kernel_t": np.zeros((0, 3), np.float32),
    }
    with pytest.raises(
        SparseFormatError, match="a softmax layer needs at least 1 unit"
    ):
        SparseModel.load(_rewrite(tmp_path, arrays))
    header["layers"][0]["activation"] = "linear"  # a linear one predicts (n, 0)
    arrays["header"] = np.array(json.dumps(header))
    assert SparseModel.load(_rewrite(tmp_path, arrays)).predict(np.ones(3)).shape == (
        0,
    )


def test_overlapping_entries_bomb_refused(tmp_path):
    # The 73 KB SparseModel file that loaded as +1.1 GB: entries sharing a tail.
    from tests.runtime.zipcraft import npy, overlapping

    names = ["header.npy"] + [f"layers/{i}/bias.npy" for i in range(100)]
    blob = overlapping(names, npy(np.zeros(1 << 16, np.float32)))
    (tmp_path / "bomb.npz").write_bytes(blob)
    with pytest.raises(SparseFormatError, match="overlaps"):
        SparseModel.load(tmp_path / "bomb.npz")


def test_directory_and_fifo_are_format_errors(tmp_path):
    with pytest.raises(SparseFormatError, match="is a directory"):
        SparseModel.load(tmp_path)
    os.mkfifo(tmp_path / "f.npz")
    with pytest.raises(SparseFormatError, match="FIFO"):
        SparseModel.load(tmp_path / "f.npz")


# ------------------------------------------------------------- version 1
def test_version_1_files_still_load():
    # A file written by sparsecore before the binsparse layout (format
    # version 1: CSR first layer, dense others), with the outputs it gave.
    data = os.path.join(os.path.dirname(__file__), "data")
    sm = SparseModel.load(os.path.join(data, "model_v1.npz"), format="saved")
    assert [la.format for la in sm.layers] == ["csr", "dense", "dense"]
    with np.load(os.path.join(data, "model_v1_io.npz")) as f:
        # (another kernel may sum in another order: float32 rounding only)
        np.testing.assert_allclose(sm.predict(f["x"]), f["y"], rtol=1e-5, atol=1e-7)
    assert sm.batch_size == 4 and sm.layers[1].alpha == np.float32(0.2)


def _v1(tmp_path, fn):
    data = os.path.join(os.path.dirname(__file__), "data", "model_v1.npz")
    arrays = _arrays(data)
    out = fn(arrays)
    return _rewrite(tmp_path, out if isinstance(out, dict) else arrays)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (
            lambda a: a["layers/0/indices"].__setitem__(0, 99),
            "layers/0/indptr/indices: indices must be in",
        ),
        (lambda a: a.pop("layers/1/kernel_t"), "layers/1/kernel_t: missing member"),
        (
            _hdr(lambda h: h["layers"][1].__setitem__("nnz", 41)),
            r"layers.1..nnz: must be an int in \[0, 40\]",
        ),
    ],
    ids=["indices", "missing kernel", "nnz"],
)
def test_malformed_version_1_files_are_refused(tmp_path, mutate, match):
    bad = _v1(tmp_path, mutate)
    with pytest.raises(SparseFormatError, match=match):
        SparseModel.load(bad)
