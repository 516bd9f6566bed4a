"""The planner: estimate and measure, the products it builds, and its cache."""

import json
import os

import numpy as np
import pytest

from sparsecore.runtime import plan as plan_mod
from sparsecore.runtime.auto import AUTO_MAX_DENSITY, auto_max_density
from sparsecore.runtime.csr import CSRMatrix, available_backends
from sparsecore.runtime.plan import (
    LayerPlan,
    cache_dir,
    cache_path,
    clear_plan_cache,
    layer_op,
    machine,
    plan_layers,
    read_plan_cache,
)
from tests.runtime.rt_helpers import backends


def _sparse(rng, shape, density, dtype=np.float32):
    a = rng.standard_normal(shape).astype(dtype)
    a[rng.random(shape) >= density] = 0
    return a


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SPARSECORE_CACHE_DIR", str(folder))
    return folder


# ------------------------------------------------------------- LayerPlan


def test_layer_plan_validates():
    assert LayerPlan("csr", "scipy", 2).label == "csr/scipy x2"
    assert LayerPlan("dense", "blas", 0).label == "dense"
    with pytest.raises(ValueError, match="format must be one of"):
        LayerPlan("coo", "scipy")
    with pytest.raises(ValueError, match="backend must be one of"):
        LayerPlan("csr", "cuda")
    with pytest.raises(ValueError, match="backend must be 'blas' exactly"):
        LayerPlan("dense", "scipy")
    with pytest.raises(ValueError, match="backend must be 'blas' exactly"):
        LayerPlan("csr", "blas")
    with pytest.raises(ValueError, match="threads must be an int in"):
        LayerPlan("csr", "numpy", -1)
    with pytest.raises(TypeError, match="threads must be an int"):
        LayerPlan("csr", "numpy", True)
    with pytest.raises(ValueError, match="source must be one of"):
        LayerPlan("csr", "numpy", 1, "guess")


# ------------------------------------------------------------------- ops


@pytest.mark.parametrize("batch", [1, 3, 40])
def test_layer_op_equals_dense_product(monkeypatch, batch):
    monkeypatch.setattr(plan_mod, "MIN_SPLIT_WORK", 1)  # split even tiny products
    rng = np.random.default_rng(0)
    w = _sparse(rng, (70, 50), 0.1, np.float64)
    w[5] = 0  # an empty row
    h = rng.standard_normal((50, batch) if batch > 1 else 50)
    bias = rng.standard_normal(70)
    b = bias if batch == 1 else bias[:, None]
    ref = w @ h + b
    ops = [layer_op(w, "blas")]
    for be in backends():
        for threads in (1, 2, 3):
            ops.append(layer_op(CSRMatrix.from_dense(w), be, threads))
    for op in ops:
        y = np.full_like(ref, np.nan)  # every entry is written
        op(np.ascontiguousarray(h), y, b)
        np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


# -------------------------------------------------------------- estimate


def test_estimate_follows_the_table():
    rng = np.random.default_rng(1)
    very_sparse = _sparse(rng, (500, 400), 0.005)
    dense = rng.standard_normal((500, 400)).astype(np.float32)
    tiny = _sparse(rng, (10, 10), 0.1)
    for be in backends():
        for batch in (1, 7, 16, 300, 4096):
            p = plan_layers(
                [very_sparse, dense, tiny], batch, backend=be, format="auto"
            )
            assert [q.format for q in p] == ["csr", "dense", "dense"]
            assert p[0].backend == be and p[0].source == "estimate"
    # forced formats
    p = plan_layers([dense, tiny], 1, format="csr", backend="numpy")
    assert [(q.format, q.backend) for q in p] == [("csr", "numpy")] * 2
    p = plan_layers([very_sparse], 1, format="dense")
    assert p[0] == LayerPlan("dense", "blas", 0, "estimate")
    # saved: each layer keeps its own format
    p = plan_layers([CSRMatrix.from_dense(dense), very_sparse], 16, format="saved")
    assert [q.format for q in p] == ["csr", "dense"]


def test_estimate_prefers_the_fastest_backend_in_the_table():
    # The backend with the highest break-even density at that batch wins; at
    # batch 1 scipy's loop beats numba's gathers in the table (so installing
    # numba never trades scipy for numba there), from batch 2 numba wins.
    rng = np.random.default_rng(2)
    w = _sparse(rng, (1000, 1000), 0.01)
    both = [b for b in ("numba", "scipy") if b in available_backends()]
    if len(both) < 2:
        pytest.skip("needs numba and scipy")
    for batch in (1, 2, 16, 1024):
        (p,) = plan_layers([w], batch)
        expect = max(
            ["numba", "scipy", "numpy"], key=lambda b: auto_max_density(b, batch)
        )
        assert p.backend == expect
    assert plan_layers([w], 1)[0].backend == "scipy"
    assert plan_layers([w], 16)[0].backend == "numba"


def test_table_rates_numba_at_least_scipy_only_from_batch_2():
    assert AUTO_MAX_DENSITY["numba"][0] < AUTO_MAX_DENSITY["scipy"][0]
    for b in (2, 4, 16, 256, 1024):
        assert auto_max_density("numba", b) >= auto_max_density("scipy", b)


def test_estimate_splits_rows_only_for_big_gil_free_products():
    rng = np.random.default_rng(3)
    w = _sparse(rng, (1000, 1000), 0.05)  # 50k nonzeros
    for be in backends():
        small = plan_layers([w], 1, format="csr", backend=be, threads=2)[0]
        big = plan_layers([w], 1024, format="csr", backend=be, threads=2)[0]
        assert small.threads == 1
        assert big.threads == (1 if be == "numpy" else 2)


def test_plan_layers_validates():
    w = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match="format must be one of"):
        plan_layers([w], 1, format="coo")
    with pytest.raises(ValueError, match="plan must be one of"):
        plan_layers([w], 1, plan="patient")
    with pytest.raises(ValueError, match="batch_size must be an int in"):
        plan_layers([w], 0)
    with pytest.raises(ValueError, match="threads must be an int in"):
        plan_layers([w], 1, threads=0)
    with pytest.raises(ValueError, match="backend must be one of"):
        plan_layers([w], 1, backend="cuda")


# --------------------------------------------------------------- measure


def test_measure_times_every_candidate_and_caches(cache):
    rng = np.random.default_rng(4)
    w = _sparse(rng, (300, 200), 0.05)
    tiny = _sparse(rng, (10, 10), 0.5)
    p = plan_layers([w, tiny], 16, plan="measure", budget=0.002)
    assert p[0].source == "measure" and p[1].source == "fixed"
    names = {"dense"} | {f"csr/{b}" for b in available_backends()}
    assert names <= set(p[0].times)
    assert all(t > 0 for t in p[0].times.values())
    best = min(p[0].times.values())
    chosen = p[0].times[p[0].label]
    assert chosen == best or (p[0].format == "dense" and chosen <= 1.02 * best)
    files = os.listdir(cache)
    assert len(files) == 1 and files[0].startswith("plans-")
    again = plan_layers([w, tiny], 16, plan="measure")
    assert again[0].source == "cache"
    assert (again[0].format, again[0].backend, again[0].threads) == (
        p[0].format,
        p[0].backend,
        p[0].threads,
    )
    # another batch size, or other backends allowed: measured anew
    assert plan_layers([w], 17, plan="measure", budget=0.002)[0].source == "measure"
    q = plan_layers([w], 16, plan="measure", backend="numpy", budget=0.002)[0]
    assert q.source == "measure" and q.backend in ("numpy", "blas")
    assert len(read_plan_cache(cache_path())) == 3


def test_measure_keeps_the_fastest_and_dense_on_ties(monkeypatch, cache):
    rng = np.random.default_rng(5)
    w = _sparse(rng, (300, 200), 0.05)

    def fake(times):
        def time_ops(ops, budget):
            assert set(ops) == set(times)
            return dict(times)

        return time_ops

    t = {"dense": 1.0, "csr/numpy": 0.5}
    monkeypatch.setattr(plan_mod, "_time_ops", fake(t))
    assert plan_layers([w], 1, plan="measure", backend="numpy")[0].label == "csr/numpy"
    clear_plan_cache()
    t = {"dense": 1.0, "csr/numpy": 0.99}  # within 2 %: dense
    monkeypatch.setattr(plan_mod, "_time_ops", fake(t))
    assert plan_layers([w], 1, plan="measure", backend="numpy")[0].label == "dense"


def test_a_faster_backend_is_never_passed_over(monkeypatch, cache):
    # Whatever the backends installed, measure keeps the fastest candidate:
    # installing numba cannot make a layer slower than scipy made it.
    rng = np.random.default_rng(6)
    w = _sparse(rng, (300, 200), 0.05)
    if not {"numba", "scipy"} <= set(available_backends()):
        pytest.skip("needs numba and scipy")

    def time_ops(ops, budget):
        return {n: (0.1 if n == "csr/scipy" else 1.0) for n in ops}

    monkeypatch.setattr(plan_mod, "_time_ops", time_ops)
    assert plan_layers([w], 16, plan="measure")[0].label == "csr/scipy"


# ------------------------------------------------------------------ cache


def test_cache_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("SPARSECORE_CACHE_DIR", str(tmp_path / "x"))
    assert cache_dir() == str(tmp_path / "x")
    monkeypatch.setenv("SPARSECORE_CACHE_DIR", "")
    assert cache_dir() is None and cache_path() is None
    assert clear_plan_cache() == 0
    monkeypatch.delenv("SPARSECORE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == str(tmp_path / "xdg" / "sparsecore")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == str(tmp_path / "home" / ".cache" / "sparsecore")


def test_disabled_cache_writes_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("SPARSECORE_CACHE_DIR", "")
    monkeypatch.chdir(tmp_path)
    w = _sparse(np.random.default_rng(7), (300, 200), 0.05)
    p = plan_layers([w], 4, plan="measure", budget=0.001)
    assert p[0].source == "measure" and os.listdir(tmp_path) == []


def test_machine_record_names_what_plans_depend_on():
    rec = machine()
    for key in ("cpu", "cpus", "numpy", "scipy", "numba", "backends", "python"):
        assert key in rec and isinstance(rec[key], str)
    assert rec["backends"] == ",".join(available_backends())
    assert cache_path(rec) == cache_path(dict(rec))
    other = dict(rec, cpu="another CPU")
    assert cache_path(other) != cache_path(rec)


def _measured_file(cache):
    w = _sparse(np.random.default_rng(8), (300, 200), 0.05)
    plan_layers([w], 8, plan="measure", budget=0.001)
    path = cache_path()
    with open(path) as f:
        return w, path, json.load(f)


def _corrupt(doc):
    key = next(iter(doc["entries"]))
    entry = doc["entries"][key]
    yield "not a dict", []
    yield "wrong name", dict(doc, format="numpy.plans")
    yield "wrong version", dict(doc, version=2)
    yield "foreign machine", dict(doc, machine=dict(doc["machine"], cpu="other"))
    yield "extra key", dict(doc, extra=1)
    for field, value in [
        ("format", "coo"),
        ("backend", "cuda"),
        ("backend", "blas"),  # csr with blas, or dense with a CSR backend
        ("threads", -1),
        ("threads", True),
        ("threads", 1.5),
        ("times", {"dense": float("nan")}),
        ("times", {"dense": -1.0}),
        ("times", {"dense": "fast"}),
        ("times", []),
    ]:
        bad = dict(entry, **{field: value})
        if field == "backend" and value == "blas" and entry["format"] == "dense":
            bad = dict(entry, backend="numpy")
        yield f"{field}={value!r}", dict(doc, entries={key: bad})
    yield "missing field", dict(doc, entries={key: {"format": "dense"}})


def test_corrupt_or_foreign_cache_is_ignored_and_replaced(cache):
    w, path, doc = _measured_file(cache)
    assert read_plan_cache(path) == doc["entries"]
    for what, bad in _corrupt(doc):
        with open(path, "w") as f:
            json.dump(bad, f)
        assert read_plan_cache(path) == {}, what
        p = plan_layers([w], 8, plan="measure", budget=0.001)
        assert p[0].source == "measure", what  # not trusted: measured again
        assert read_plan_cache(path) != {}, what  # and the file replaced
    for raw in (b"{not json", b"\xff\xfe", b"[" * 100_000, b" " * (5 << 20)):
        with open(path, "wb") as f:
            f.write(raw)
        assert read_plan_cache(path) == {}
        assert plan_layers([w], 8, plan="measure", budget=0.001)[0].source == "measure"


def test_unwritable_cache_folder_only_costs_a_measurement(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SPARSECORE_CACHE_DIR", str(blocker / "sub"))
    w = _sparse(np.random.default_rng(9), (300, 200), 0.05)
    assert plan_layers([w], 8, plan="measure", budget=0.001)[0].source == "measure"


def test_clear_plan_cache(cache):
    _measured_file(cache)
    (cache / "keep.txt").write_text("not a plan")
    assert clear_plan_cache() == 1
    assert os.listdir(cache) == ["keep.txt"]
    assert clear_plan_cache() == 0


def test_auto_format_agrees_with_the_planner():
    from sparsecore.runtime.auto import auto_format

    rng = np.random.default_rng(10)
    for density in (0.002, 0.03, 0.08, 0.3):
        w = _sparse(rng, (400, 300), density)
        for be in backends():
            for batch in (1, 16, 1024):
                (p,) = plan_layers([w], batch, backend=be)
                assert auto_format(w, be, batch) == p.format
    assert auto_format(np.zeros((10, 10), np.float32), "numpy", 1) == "dense"


def test_measure_skips_candidates_the_model_rates_far_slower(cache, monkeypatch):
    rng = np.random.default_rng(11)
    nearly_dense = _sparse(rng, (300, 300), 0.9)
    seen = []

    def time_ops(ops, budget):
        seen.append(set(ops))
        return dict.fromkeys(ops, 1.0)

    monkeypatch.setattr(plan_mod, "_time_ops", time_ops)
    (p,) = plan_layers([nearly_dense], 1, plan="measure")
    assert p == LayerPlan("dense", "blas", 0, "fixed") and seen == []
    (p,) = plan_layers([nearly_dense], 1, plan="measure", format="csr")
    assert p.format == "csr" and seen  # forced CSR: every backend is timed
