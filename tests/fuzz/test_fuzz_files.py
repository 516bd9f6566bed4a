"""Fuzzing the file readers: mutated checkpoints and SparseModel files.

Every mutated file must either load to a model that validates, or raise the
documented error (:class:`CheckpointFormatError` for checkpoints,
:class:`SparseFormatError` for SparseModel files, both ValueErrors naming the
file); never another exception, a crash or a hang (each load has a 10 s alarm).

Mutations (tests/fuzz/mutations.py): truncation, flipped/overwritten/
inserted/deleted bytes, zip directory and local-header fields (sizes, method,
offsets), missing, extra and duplicated members, swapped dtypes, declared
shapes out of range or huge, corrupt ``.npy`` headers and versions,
out-of-range values (CSR indices, NaN weights, non-0/1 bool bytes), JSON
header edits (deleted, added and replaced fields, nudged numbers) and non-npz
data. Hypothesis draws chains of them; deterministic sweeps add every member
dropped, retyped and reshaped, and truncations and flips at fixed positions.
The number of cases tried is printed at the end of the run (see conftest.py).
The command line's readers are fuzzed in test_fuzz_cli.py.
"""

import functools
import io
import json
import os
import signal
import tempfile
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
from tests.fuzz.mutations import (
    DTYPES,
    NON_NPZ,
    is_compressed,
    npy,
    npy_header,
    npy_parts,
    raw,
    read_members,
    structural,
    to_npy,
    write_members,
)

# The CI budget (about 12 s for this module): the CLI fuzz takes its own share.
EXAMPLES = int(os.environ.get("SPARSECORE_FUZZ_EXAMPLES", "600"))
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
    out["ckpt-bare"] = (sc.Sequential([sc.Dense(3)], input_dim=2, seed=2), False)
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


def former_escapes():
    """Files that once escaped the runtime reader as zip/tokenizer errors."""
    blob = bases()["sm-csr32"]
    cases = {}
    local = bytearray(blob)
    i = local.rfind(b"PK\x03\x04", 0, local.find(b"header.npy"))
    local[i + 30] ^= 0x20  # the local header's file name no longer matches
    cases["local header name differs"] = bytes(local)
    for member in (b"header.npy", b"layers/0/bias.npy"):
        cd = bytearray(blob)
        j = cd.rfind(b"PK\x01\x02", 0, cd.rfind(member))
        cd[j + 10 : j + 12] = (99).to_bytes(2, "little")  # unknown compression
        cases[f"unknown compression of {member.decode()}"] = bytes(cd)
    members = read_members(blob)
    members = [
        (n, npy("{", b"") if n == "layers/0/bias.npy" else d) for n, d in members
    ]
    cases["npy header '{'"] = write_members(members)
    cases["huge declared size (zip64)"] = _huge_sparse_model()
    deep = to_npy(np.array("[" * 100_000 + "]" * 100_000))
    cases["deeply nested JSON header"] = write_members([("header.npy", deep)])
    return cases


REFUSED = ("refused",)


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


@pytest.mark.parametrize("case", sorted(former_escapes()))
def test_former_reader_escapes_are_refused(fuzz_counts, case):
    assert check("sparsemodel", former_escapes()[case], fuzz_counts) == "refused"
