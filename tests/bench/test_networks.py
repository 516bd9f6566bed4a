"""sparsecore.bench.networks: the pruned networks the benchmark times."""

import numpy as np
import pytest

from sparsecore import bench
from sparsecore.bench.networks import cached_layers
from sparsecore.prune import keep_count, magnitude_mask, structured_mask


def test_pruned_tutorial_layers_exact_sparsity():
    layers = bench.pruned_tutorial_layers(0.9, widths=(50, 40, 30, 1))
    for w, b, _act in layers:
        k = max(1, round(w.size * 0.1))
        assert np.count_nonzero(w) == k
        assert w.dtype == np.float32 and b.shape == (w.shape[1],)
    assert [a for _, _, a in layers] == ["relu", "relu", "linear"]


def test_pruned_tutorial_layers_structured():
    layers = bench.pruned_tutorial_layers(0.75, structured=True, widths=(20, 40, 40, 1))
    for w, _, _ in layers[:-1]:
        assert np.count_nonzero(np.any(w != 0, axis=0)) == 10
    assert np.all(layers[-1][0] != 0)


@pytest.mark.parametrize("bad", [-0.1, 1.0])
def test_pruned_tutorial_layers_rejects(bad):
    with pytest.raises(ValueError, match=r"sparsity must be a float in \[0, 1\)"):
        bench.pruned_tutorial_layers(bad)


def _unpruned(widths, dtype="float32"):
    """The same seeded kernels before pruning (sparsity 0 keeps every weight)."""
    return bench.pruned_tutorial_layers(0.0, widths=widths, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sparsity", [0.5, 0.9, 0.99])
def test_unstructured_masks_are_magnitude_masks(sparsity, dtype):
    widths = (30, 25, 20, 1)
    pruned = bench.pruned_tutorial_layers(sparsity, widths=widths, dtype=dtype)
    for (w0, b0, act0), (w, b, act) in zip(
        _unpruned(widths, dtype), pruned, strict=True
    ):
        mask = magnitude_mask(w0, sparsity)
        np.testing.assert_array_equal(w != 0, mask)
        np.testing.assert_array_equal(w[mask], w0[mask])  # kept weights untouched
        assert np.count_nonzero(w) == keep_count(w0.size, sparsity)
        np.testing.assert_array_equal(b, b0)
        assert act == act0 and w.dtype == np.dtype(dtype)


def test_pruning_is_deterministic():
    # The criteria are exact (no argpartition): rebuilding is bit-identical,
    # and the 30 x 1 output kernel keeps exactly keep_count weights.
    a = bench.pruned_tutorial_layers(0.9, widths=(40, 30, 1))
    b = bench.pruned_tutorial_layers(0.9, widths=(40, 30, 1))
    for (wa, _, _), (wb, _, _) in zip(a, b, strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert np.count_nonzero(a[-1][0]) == keep_count(30, 0.9) == 3


@pytest.mark.parametrize("sparsity", [0.5, 0.75, 0.9])
def test_structured_masks_are_structured_masks(sparsity):
    widths = (20, 40, 30, 1)
    pruned = bench.pruned_tutorial_layers(sparsity, structured=True, widths=widths)
    original = _unpruned(widths)
    for (w0, _, _), (w, _, _) in zip(original[:-1], pruned[:-1], strict=True):
        mask = structured_mask(w0, sparsity, axis=1, norm=1)
        np.testing.assert_array_equal(w != 0, mask)
        np.testing.assert_array_equal(w[mask], w0[mask])
    np.testing.assert_array_equal(pruned[-1][0], original[-1][0])  # left whole


def test_cached_layers_key_includes_the_widths():
    small = cached_layers(0.5, False, "float32", (12, 8, 1))
    other = cached_layers(0.5, False, "float32", (12, 6, 1))
    assert [w.shape for w, _, _ in small] == [(12, 8), (8, 1)]
    assert [w.shape for w, _, _ in other] == [(12, 6), (6, 1)]
    assert cached_layers(0.5, False, "float32", (12, 8, 1)) is small
    expected = bench.pruned_tutorial_layers(0.5, widths=(12, 8, 1))
    for (w, b, a), (we, be, ae) in zip(small, expected, strict=True):
        np.testing.assert_array_equal(w, we)
        np.testing.assert_array_equal(b, be)
        assert a == ae


def test_make_input_is_seeded():
    x = bench.make_input(3, 5, "float64")
    assert x.shape == (3, 5) and x.dtype == np.float64
    np.testing.assert_array_equal(x, bench.make_input(3, 5, "float64"))
    assert not np.array_equal(x, bench.make_input(3, 5, "float64", seed=2))


def test_file_sizes_of_a_small_network():
    widths = (40, 30, 1)
    sizes = bench.file_sizes(0.9, widths=widths)
    layers = bench.pruned_tutorial_layers(0.9, widths=widths)
    assert sizes["dense_float32"] == sum(w.nbytes + b.nbytes for w, b, _ in layers)
    assert set(sizes) == {
        "dense_float32",
        "csr_in_memory",
        "npz_dense",
        "npz_csr",
        "npz_csr_compressed",
    }
    assert sizes["csr_in_memory"] < sizes["dense_float32"]
