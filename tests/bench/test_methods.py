"""sparsecore.bench.methods: every timed method computes the dense network."""

import os

import numpy as np
import pytest

from sparsecore import bench
from sparsecore.bench.methods import SAVED_BATCH, build_method, numpy_dense
from sparsecore.runtime import SparseModel
from sparsecore.runtime.csr import available_backends

WIDTHS = (120, 90, 60, 1)


@pytest.mark.parametrize("batch", [1, 5])
def test_every_method_equals_numpy_dense(batch):
    layers = bench.pruned_tutorial_layers(0.95, widths=WIDTHS)
    x = bench.make_input(batch, WIDTHS[0])
    ref = numpy_dense(layers)(x)
    for m in bench.METHODS:
        if m.startswith("torch_"):
            continue  # tested by the sweep when torch is installed
        fn = build_method(m, layers, batch, "float32", None)
        if fn is None:
            assert m in ("sc_numba", "sc_scipy", "sc_scipy_auto", "scipy_naive")
            continue
        out = np.asarray(fn(x), np.float64)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4, err_msg=m)


def test_numpy_methods_use_only_the_numpy_kernel():
    layers = bench.pruned_tutorial_layers(0.99, widths=WIDTHS)
    for m in ("sc_numpy", "sc_numpy_auto", "sc_numpy_load"):
        sm = build_method(m, layers, 16, "float32", None).__self__
        assert isinstance(sm, SparseModel)
        assert {p.backend for p in sm.plan} <= {"numpy", "blas"}, m
    sm = build_method("sc_numpy", layers, 16, "float32", None).__self__
    assert {p.label for p in sm.plan} == {"csr/numpy"}


def test_load_methods_reread_a_saved_file():
    layers = bench.pruned_tutorial_layers(0.99, widths=WIDTHS)
    sm = build_method("sc_load", layers, 256, "float32", None).__self__
    assert sm.batch_size == 256  # chosen again for the batch, not SAVED_BATCH
    assert SAVED_BATCH == 16
    assert all(p.source == "estimate" for p in sm.plan)


def test_measure_uses_a_fresh_cache_and_leaves_the_users(monkeypatch, tmp_path):
    monkeypatch.setenv("SPARSECORE_CACHE_DIR", str(tmp_path))
    layers = bench.pruned_tutorial_layers(0.5, widths=WIDTHS)  # >= 4096 weights
    for _ in range(2):  # a second build measures again: nothing was kept
        sm = build_method("sc_measure", layers, 4, "float32", None).__self__
        assert {p.source for p in sm.plan} <= {"measure", "fixed"}
        assert "measure" in {p.source for p in sm.plan}
    assert os.listdir(tmp_path) == []
    assert os.environ["SPARSECORE_CACHE_DIR"] == str(tmp_path)


def test_unavailable_backends_give_none(monkeypatch):
    from sparsecore.bench import methods

    monkeypatch.setattr(methods, "available_backends", lambda: ["numpy"])
    layers = bench.pruned_tutorial_layers(0.9, widths=WIDTHS)
    for m in ("sc_numba", "sc_scipy", "sc_scipy_auto", "scipy_naive"):
        assert build_method(m, layers, 1, "float32", None) is None
    assert "numpy" in available_backends()
    with pytest.raises(ValueError, match="method must be one of"):
        build_method("sc_magic", layers, 1, "float32", None)
