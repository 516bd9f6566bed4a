"""Allocation: top-k ranking, uniform / global / ERK budgets, dense layers, nesting."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from sparsecore.prune import (
    Allocation,
    KeepDense,
    allocate_masks,
    erk_densities,
    global_magnitude_masks,
    keep_count,
    magnitude_mask,
    top_k_mask,
)

finite = st.floats(-10, 10, allow_nan=False, width=32)


def naive_top_k(scores, k, eligible=None):
    flat = list(np.asarray(scores, dtype=np.float64).reshape(-1))
    elig = [True] * len(flat) if eligible is None else list(np.reshape(eligible, -1))
    order = sorted(range(len(flat)), key=lambda i: (not elig[i], -flat[i], i))
    out = np.zeros(len(flat), dtype=bool)
    out[order[:k]] = True
    return out.reshape(np.shape(scores))


@given(
    arrays(
        np.float32, array_shapes(min_dims=1, max_dims=3, max_side=7), elements=finite
    ),
    st.data(),
)
def test_top_k_matches_a_naive_sort(scores, data):
    k = data.draw(st.integers(0, scores.size))
    eligible = data.draw(arrays(np.bool_, scores.shape))
    np.testing.assert_array_equal(top_k_mask(scores, k), naive_top_k(scores, k))
    got = top_k_mask(scores, k, eligible)
    np.testing.assert_array_equal(got, naive_top_k(scores, k, eligible))
    assert got.sum() == k
    if k <= eligible.sum():
        assert not (got & ~eligible).any()


def test_top_k_ties_go_to_the_lower_index():
    np.testing.assert_array_equal(
        top_k_mask(np.array([1.0, 2.0, 1.0, 1.0]), 2), [True, True, False, False]
    )


@given(
    arrays(
        np.float32, array_shapes(min_dims=1, max_dims=2, max_side=9), elements=finite
    ),
    st.floats(0, 0.99),
)
def test_uniform_on_magnitudes_is_magnitude_mask(w, sparsity):
    masks = allocate_masks({"a": np.abs(w)}, sparsity, "uniform")
    np.testing.assert_array_equal(masks["a"], magnitude_mask(w, sparsity))
    np.testing.assert_array_equal(
        allocate_masks({"a": np.abs(w)}, sparsity, "layer")["a"], masks["a"]
    )


@given(
    arrays(np.float32, (4, 5), elements=finite),
    arrays(np.float32, (6,), elements=finite),
    st.floats(0, 0.99),
)
def test_global_on_magnitudes_is_global_magnitude_masks(a, b, sparsity):
    weights = {"a": a, "b": b}
    got = allocate_masks({n: np.abs(w) for n, w in weights.items()}, sparsity, "global")
    want = global_magnitude_masks(weights, sparsity)
    for n in weights:
        np.testing.assert_array_equal(got[n], want[n])
    assert sum(m.sum() for m in got.values()) == keep_count(26, sparsity)


SHAPES = {"d0/kernel": (40, 500), "d1/kernel": (500, 500), "d2/kernel": (500, 10)}


def rigl_erk(shapes, sparsity):
    """The loop of google-research/rigl sparse_utils.get_sparsities_erdos_renyi."""
    dense = set()
    while True:
        divisor = rhs = 0.0
        raw = {}
        for n, s in shapes.items():
            size = math.prod(s)
            if n in dense:
                rhs -= sparsity * size
            else:
                rhs += (1 - sparsity) * size
                raw[n] = sum(s) / size
                divisor += raw[n] * size
        eps = rhs / divisor
        top = max(raw.values())
        if eps * top > 1:
            dense.update(n for n, r in raw.items() if r == top)
        else:
            break
    return {n: 1.0 if n in dense else eps * raw[n] for n in shapes}


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.8, 0.9, 0.95, 0.99])
def test_erk_densities_follow_the_formula(sparsity):
    d = erk_densities(SHAPES, sparsity)
    want = rigl_erk(SHAPES, sparsity)
    for n in SHAPES:
        assert d[n] == pytest.approx(want[n], rel=1e-12)
    sizes = {n: math.prod(s) for n, s in SHAPES.items()}
    # the budget: (1 - s) of all entries
    assert sum(d[n] * sizes[n] for n in SHAPES) == pytest.approx(
        (1 - sparsity) * sum(sizes.values())
    )
    # uncapped layers: density proportional to (n_in + n_out) / (n_in n_out)
    free = [n for n in SHAPES if d[n] < 1]
    ratios = [d[n] / (sum(SHAPES[n]) / sizes[n]) for n in free]
    assert max(ratios, default=0) == pytest.approx(min(ratios, default=0))
    assert all(0 < v <= 1 for v in d.values())


def test_erk_caps_and_redistributes():
    d = erk_densities(SHAPES, 0.9)
    assert d["d2/kernel"] == 1.0  # 500x10 is the densest by the formula, and capped
    assert d["d0/kernel"] > d["d1/kernel"]


@pytest.mark.parametrize("sparsity", [0.5, 0.9, 0.99])
def test_erk_counts_apportion_exactly(sparsity):
    alloc = Allocation("erk")
    counts = alloc.keep_counts(SHAPES, sparsity)
    dens = erk_densities(SHAPES, sparsity)
    total = keep_count(sum(math.prod(s) for s in SHAPES.values()), sparsity)
    assert sum(counts.values()) == total
    for n, s in SHAPES.items():
        assert abs(counts[n] - dens[n] * math.prod(s)) < 1
    rng = np.random.default_rng(0)
    scores = {n: rng.random(s) for n, s in SHAPES.items()}
    masks = alloc.masks(scores, sparsity)
    assert {n: int(m.sum()) for n, m in masks.items()} == counts


def test_keep_first_and_last_dense_and_the_budget_of_the_rest():
    rng = np.random.default_rng(1)
    scores = {n: rng.random(s) for n, s in SHAPES.items()}
    for dist in ("uniform", "global", "erk"):
        masks = allocate_masks(
            scores, 0.9, Allocation(dist, KeepDense(first=True, last=True))
        )
        assert masks["d0/kernel"].all() and masks["d2/kernel"].all()
        assert masks["d1/kernel"].sum() == keep_count(250_000, 0.9)
    counts = Allocation("uniform", KeepDense(first=False)).keep_counts(SHAPES, 0.75)
    assert counts == {"d0/kernel": 5000, "d1/kernel": 62500, "d2/kernel": 5000}
    sp = Allocation("uniform", KeepDense(last=False)).layer_sparsities(SHAPES, 0.75)
    assert sp == {"d0/kernel": 0.0, "d1/kernel": 0.75, "d2/kernel": 0.75}


@given(
    st.floats(0, 0.9), st.floats(0, 0.09), st.sampled_from(["uniform", "global", "erk"])
)
def test_masks_nest_when_sparsity_grows(s0, ds, dist):
    rng = np.random.default_rng(2)
    shapes = {"a": (6, 8), "b": (8, 3)}
    first = allocate_masks({n: rng.random(s) for n, s in shapes.items()}, s0, dist)
    second = allocate_masks(
        {n: rng.random(s) for n, s in shapes.items()}, s0 + ds, dist, prev_masks=first
    )
    for n in shapes:
        assert not (second[n] & ~first[n]).any()


def test_global_can_empty_a_layer_uniform_cannot():
    scores = {"a": np.full((4, 4), 10.0), "b": np.full((4, 4), 0.1)}
    assert allocate_masks(scores, 0.5, "global")["b"].sum() == 0
    assert allocate_masks(scores, 0.5, "uniform")["b"].sum() == 8


def test_signed_scores_rank_by_value():
    masks = allocate_masks({"a": np.array([-3.0, 2.0, -0.5, 1.0])}, 0.5)
    np.testing.assert_array_equal(masks["a"], [False, True, False, True])


def test_validation():
    with pytest.raises(ValueError, match="distribution must be one of"):
        Allocation("random")
    with pytest.raises(TypeError, match="policy must be a PruningPolicy"):
        Allocation("erk", "first")
    with pytest.raises(TypeError, match="scope must be one of"):
        allocate_masks({"a": np.ones(3)}, 0.5, 3)
    with pytest.raises(ValueError, match="sparsity must be a float in"):
        allocate_masks({"a": np.ones(3)}, 1.0)
    with pytest.raises(ValueError, match="finite"):
        allocate_masks({"a": np.array([1.0, np.nan])}, 0.5)
    with pytest.raises(ValueError, match="non-empty dict"):
        allocate_masks({}, 0.5)
    with pytest.raises(ValueError, match="prev_masks must have the keys"):
        allocate_masks({"a": np.ones(3)}, 0.5, prev_masks={"b": np.ones(3, bool)})
    with pytest.raises(ValueError, match="prev_masks\\['a'\\] must be a bool array"):
        allocate_masks({"a": np.ones(3)}, 0.5, prev_masks={"a": np.ones(3)})
    with pytest.raises(ValueError, match="no fixed counts"):
        Allocation("global").keep_counts({"a": (3,)}, 0.5)
    with pytest.raises(ValueError, match="k must be an int in"):
        top_k_mask(np.ones(3), 4)
    assert allocate_masks({"a": np.ones(3)}, 0.0)["a"].all()
    assert Allocation("LAYER").distribution == "uniform"
