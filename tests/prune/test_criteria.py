"""Mask criteria: exact counts, tie rules, block/N:M/structure invariants, errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from sparsecore.prune.criteria import (
    _top_k,
    global_magnitude_masks,
    keep_count,
    magnitude_mask,
    nm_mask,
    random_mask,
    structured_mask,
)

sparsities = st.floats(0.0, 0.999)
# Few distinct values, so ties (and exact zeros) are common.
tied = st.sampled_from([0.0, -0.0, 0.5, -0.5, 1.0, -2.0, 3.0])
weights = arrays(
    np.float64,
    array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=12),
    elements=st.floats(-10, 10, allow_nan=False) | tied,
)


def reference_mask(scores, k, eligible=None):
    """Naive oracle: stable sort of -score (ineligible last), keep the first k."""
    key = np.asarray(scores, dtype=np.float64).ravel().copy()
    if eligible is not None:
        key[~np.asarray(eligible).ravel()] = -1.0
    order = np.argsort(-key, kind="stable")
    out = np.zeros(key.size, dtype=bool)
    out[order[:k]] = True
    return out.reshape(np.shape(scores))


def tfmot_mask(w, sparsity):
    """tfmot's rule: keep |w| >= the k-th largest |w| (more than k on ties)."""
    a = np.abs(w).ravel()
    k = keep_count(a.size, sparsity)
    threshold = np.sort(a)[::-1][k - 1]
    return (np.abs(w) >= threshold).reshape(w.shape)


# ----------------------------------------------------------------------- keep_count
def test_keep_count_rounds_half_to_even():
    assert keep_count(5, 0.5) == 2  # 2.5 -> 2 (tfmot keeps 2, torch keeps 3)
    assert keep_count(7, 0.5) == 4  # 3.5 -> 4
    assert keep_count(4, 0.99) == 1  # max(1, ...)
    assert keep_count(1, 0.0) == 1
    assert keep_count(1000 * 1024, 0.75) == 256000
    with pytest.raises(ValueError, match=r"n must be an int in \[1, inf\)"):
        keep_count(0, 0.5)


# ----------------------------------------------------------------------- magnitude
@given(weights, sparsities)
def test_magnitude_keeps_exactly_k_ties_to_lower_index(w, s):
    mask = magnitude_mask(w, s)
    k = keep_count(w.size, s)
    assert mask.dtype == np.bool_ and mask.shape == w.shape
    assert np.count_nonzero(mask) == k
    assert np.array_equal(mask, reference_mask(np.abs(w), k))


@given(
    arrays(
        np.float32,
        st.integers(1, 300),
        elements=st.floats(0.125, 10, width=32),
        unique=True,
    ),
    sparsities,
    st.data(),
)
def test_magnitude_equals_tfmot_without_ties(a, s, data):
    signs = data.draw(arrays(np.bool_, a.shape))
    w = np.where(signs, a, -a)
    assert np.array_equal(magnitude_mask(w, s), tfmot_mask(w, s))


@given(weights, sparsities, sparsities, st.data())
def test_prev_mask_gives_nested_masks(w, s1, s2, data):
    first = magnitude_mask(w, s1)
    second = magnitude_mask(w * first, s2, prev_mask=first)
    assert np.count_nonzero(second) == keep_count(w.size, s2)
    if np.count_nonzero(second) <= np.count_nonzero(first):
        assert not np.any(second & ~first)  # subset
    else:
        assert not np.any(first & ~second)  # superset
    # Any previous mask, also one keeping zeros and pruning large weights.
    prev = data.draw(arrays(np.bool_, w.shape))
    k = keep_count(w.size, s2)
    got = magnitude_mask(w, s2, prev_mask=prev)
    assert np.array_equal(got, reference_mask(np.abs(w), k, prev))


@pytest.mark.parametrize("n", [70_000, 300_000])
@pytest.mark.parametrize("zeros", [0.0, 0.5, 0.9])
def test_large_arrays_match_reference(n, zeros):
    # Exercises the sampled bracket of the fast selection, with many exact zeros.
    rng = np.random.default_rng(n)
    w = rng.standard_normal(n).astype(np.float32)
    w[rng.random(n) < zeros] = 0.0
    w[:100] = w[100:200]  # some ties
    for s in (0.0, 0.3, 0.75, 0.95, 0.999):
        k = keep_count(n, s)
        assert np.array_equal(magnitude_mask(w, s), reference_mask(np.abs(w), k))
    prev = rng.random(n) < 0.6
    k = keep_count(n, 0.5)
    assert np.array_equal(
        magnitude_mask(w, 0.5, prev_mask=prev), reference_mask(np.abs(w), k, prev)
    )


def test_top_k_all_branches():
    s = np.array([0.0, 3.0, 0.0, 1.0, 1.0, 2.0])
    assert _top_k(s, 6).all()
    assert _top_k(s, 2).tolist() == [False, True, False, False, False, True]
    assert _top_k(s, 3).tolist() == [False, True, False, True, False, True]
    assert _top_k(s, 5).tolist() == [True, True, False, True, True, True]
    e = np.array([True, False, True, True, False, True])
    assert _top_k(s, 1, e).tolist() == [False, False, False, False, False, True]
    assert _top_k(s, 4, e).tolist() == [True, False, True, True, False, True]
    assert _top_k(s, 5, e).tolist() == [True, True, True, True, False, True]


def test_magnitude_small_examples():
    w = np.array([0.1, -3.0, 2.0, 0.5])
    assert magnitude_mask(w, 0.5).tolist() == [False, True, True, False]
    assert magnitude_mask(w, 0.0).all()
    assert magnitude_mask(w, 0.99).tolist() == [False, True, False, False]
    # Ties: tfmot would keep all four; exactly k=2 here, lower index first.
    assert magnitude_mask(np.ones(4), 0.5).tolist() == [True, True, False, False]
    # All zeros still keeps k.
    assert np.count_nonzero(magnitude_mask(np.zeros((3, 3)), 0.5)) == 4
    # Integer weights are ranked too.
    assert magnitude_mask(np.array([1, -5, 3]), 0.5).tolist() == [False, True, True]
    # Scalars count as one weight.
    assert magnitude_mask(np.float32(2.0), 0.5).tolist() is True


# ----------------------------------------------------------------------- global
@given(st.lists(weights, min_size=1, max_size=4), sparsities)
def test_global_total_exact_and_one_ranking(ws, s):
    named = {f"w{i}": w for i, w in enumerate(ws)}
    masks = global_magnitude_masks(named, s)
    assert list(masks) == list(named)
    total = sum(w.size for w in ws)
    assert sum(np.count_nonzero(m) for m in masks.values()) == keep_count(total, s)
    flat = np.concatenate([np.abs(w).ravel() for w in ws])
    expected = reference_mask(flat, keep_count(total, s))
    got = np.concatenate([m.ravel() for m in masks.values()])
    assert np.array_equal(got, expected)
    for name, w in named.items():
        assert masks[name].shape == w.shape


def test_global_nested_and_errors():
    rng = np.random.default_rng(0)
    ws = {"a": rng.standard_normal((20, 30)), "b": rng.standard_normal((30, 5))}
    m1 = global_magnitude_masks(ws, 0.5)
    pruned = {n: w * m1[n] for n, w in ws.items()}
    m2 = global_magnitude_masks(pruned, 0.8, prev_masks=m1)
    for n in ws:
        assert not np.any(m2[n] & ~m1[n])
    with pytest.raises(ValueError, match="non-empty dict"):
        global_magnitude_masks({}, 0.5)
    with pytest.raises(ValueError, match="prev_masks must have the keys"):
        global_magnitude_masks(ws, 0.5, prev_masks={"a": m1["a"]})
    bad = dict(ws, b=np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match=r"weights\['b'\] must contain only finite"):
        global_magnitude_masks(bad, 0.5)
    blocks = global_magnitude_masks(ws, 0.5, block_size=(2, 5), block_pooling="max")
    assert sum(np.count_nonzero(m) for m in blocks.values()) % 10 == 0


# ----------------------------------------------------------------------- blocks
def reference_block_mask(w, s, block, pooling):
    """Naive loops: pool |w| per block on a grid aligned at 0, rank, expand."""
    H, W = w.shape
    bh, bw = block
    nbh, nbw = -(-H // bh), -(-W // bw)
    pooled = np.zeros((nbh, nbw))
    for i in range(nbh):
        for j in range(nbw):
            tile = np.abs(w[i * bh : (i + 1) * bh, j * bw : (j + 1) * bw])
            pooled[i, j] = tile.max() if pooling == "max" else tile.mean()
    keep = reference_mask(pooled, keep_count(pooled.size, s))
    return np.kron(keep, np.ones(block, dtype=bool)).astype(bool)[:H, :W], keep


# Multiples of 1/8: block sums are exact in any order, so equal means tie exactly.
dyadic_matrices = arrays(
    np.float64,
    array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=17),
    elements=st.integers(-80, 80).map(lambda i: i / 8),
)


@given(
    dyadic_matrices,
    sparsities,
    st.tuples(st.integers(1, 5), st.integers(1, 5)),
    st.sampled_from(["avg", "max", "AVG", "MAX"]),
)
def test_block_masks_constant_per_block(w, s, block, pooling):
    mask = magnitude_mask(w, s, block_size=block, block_pooling=pooling)
    expected, keep = reference_block_mask(w, s, block, pooling.lower())
    assert np.array_equal(mask, expected)
    bh, bw = block
    for i in range(0, w.shape[0], bh):
        for j in range(0, w.shape[1], bw):
            tile = mask[i : i + bh, j : j + bw]
            assert tile.all() or not tile.any()
    assert np.count_nonzero(keep) == keep_count(keep.size, s)


def test_block_divides_shape_matches_tfmot_pooling():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((64, 32)).astype(np.float32)
    mask = magnitude_mask(w, 0.5, block_size=(4, 2))
    pooled = np.abs(w).reshape(16, 4, 16, 2).mean(axis=(1, 3))
    keep = tfmot_mask(pooled, 0.5)
    assert np.array_equal(mask, np.kron(keep, np.ones((4, 2))).astype(bool))


def test_block_partial_edge_blocks():
    w = np.arange(1, 16, dtype=float).reshape(3, 5)  # 2x2 blocks: 2 x 3 grid
    mask = magnitude_mask(w, 0.5, block_size=(2, 2), block_pooling="avg")
    # block means: [4, 6, 7.5] / [11.5, 13.5, 15]: keep the 3 largest
    assert mask.tolist() == [
        [False, False, False, False, False],
        [False, False, False, False, False],
        [True, True, True, True, True],
    ]


def test_block_nested_with_prev_mask():
    rng = np.random.default_rng(5)
    w = rng.standard_normal((30, 20))
    m1 = magnitude_mask(w, 0.4, block_size=(3, 4))
    m2 = magnitude_mask(w * m1, 0.7, block_size=(3, 4), prev_mask=m1)
    assert not np.any(m2 & ~m1)


@pytest.mark.parametrize("block", [(2,), (1, 2, 3), (0, 1), (1, -1), (1.0, 2), "ab"])
def test_block_size_must_be_two_positive_ints(block):
    with pytest.raises(
        ValueError, match=r"block_size must be a pair \(height, width\)"
    ):
        magnitude_mask(np.ones((4, 4)), 0.5, block_size=block)


def test_block_errors():
    with pytest.raises(ValueError, match=r"block_size \(2, 2\) needs a rank-2 w"):
        magnitude_mask(np.ones((4, 4, 4)), 0.5, block_size=(2, 2))
    with pytest.raises(
        ValueError, match=r"block_pooling must be one of \['avg', 'max'\]"
    ):
        magnitude_mask(np.ones((4, 4)), 0.5, block_pooling="sum")
    magnitude_mask(np.ones((4, 4, 4)), 0.5, block_size=(1, 1))  # element-wise: any rank


# ----------------------------------------------------------------------- structured
@given(weights, sparsities, st.integers(-3, 2), st.sampled_from([1, 2]))
def test_structured_removes_whole_slices(w, s, axis, norm):
    if not -w.ndim <= axis < w.ndim:
        with pytest.raises(IndexError, match="axis must be an int in"):
            structured_mask(w, s, axis=axis, norm=norm)
        return
    mask = structured_mask(w, s, axis=axis, norm=norm)
    moved = np.moveaxis(mask, axis, 0).reshape(w.shape[axis], -1)
    assert np.all(moved.all(axis=1) | ~moved.any(axis=1))  # whole slices
    kept = moved.all(axis=1)
    assert np.count_nonzero(kept) == keep_count(w.shape[axis], s)
    a = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    scores = np.abs(a).sum(1) if norm == 1 else np.sqrt((a**2).sum(1))
    assert np.array_equal(kept, reference_mask(scores, keep_count(kept.size, s)))


def test_structured_kernel_columns_and_norms():
    w = np.array([[3.0, 2.0, 0.1], [0.0, 2.0, 2.5]])  # L1: 3, 4, 2.6; L2: 3, 2.83, 2.5
    assert structured_mask(w, 0.6, axis=1, norm=1)[0].tolist() == [False, True, False]
    assert structured_mask(w, 0.6, axis=1, norm=2)[0].tolist() == [True, False, False]
    rows = structured_mask(w, 0.5, axis=0)
    assert rows.tolist() == [[True] * 3, [False] * 3]
    prev = np.array([[True, False, True]] * 2)
    nested = structured_mask(w, 0.6, axis=1, prev_mask=prev)
    assert nested[0].tolist() == [True, False, False]
    with pytest.raises(ValueError, match=r"norm must be one of \[1, 2\]"):
        structured_mask(w, 0.5, norm=3)
    with pytest.raises(TypeError, match="axis must be an int"):
        structured_mask(w, 0.5, axis=1.0)


# ----------------------------------------------------------------------- N:M
@given(
    st.integers(1, 6),
    st.integers(1, 5),
    st.integers(1, 6),
    st.data(),
)
def test_nm_every_group_has_exactly_n_zeros(n_groups, group, other, data):
    n_zeros = data.draw(st.integers(0, group - 1))
    axis = data.draw(st.sampled_from([0, 1, -1]))
    shape = [other, other]
    shape[axis] = n_groups * group
    w = data.draw(arrays(np.float64, tuple(shape), elements=tied | st.floats(-5, 5)))
    mask = nm_mask(w, n_zeros, group, axis=axis)
    groups = np.moveaxis(mask, axis, -1).reshape(-1, group)
    assert np.all((~groups).sum(axis=1) == n_zeros)
    values = np.moveaxis(np.abs(w), axis, -1).reshape(-1, group)
    for g, v in zip(groups, values, strict=True):
        assert np.array_equal(g, reference_mask(v, group - n_zeros))


def test_nm_two_four_along_input_dimension():
    w = np.array([[1.0, 9.0], [4.0, 8.0], [3.0, 7.0], [2.0, 6.0]])  # (n_in=4, n_out=2)
    mask = nm_mask(w, 2, 4)
    assert mask[:, 0].tolist() == [False, True, True, False]
    assert mask[:, 1].tolist() == [True, True, False, False]
    assert nm_mask(np.ones((4, 1)), 2, 4)[:, 0].tolist() == [True, True, False, False]
    assert nm_mask(w, 0, 4).all()


def test_nm_errors():
    w = np.ones((6, 4))
    with pytest.raises(ValueError, match=r"group must divide w.shape\[0\] = 6; got"):
        nm_mask(w, 2, 4)
    with pytest.raises(ValueError, match=r"n_zeros must be an int in \[0, group\)"):
        nm_mask(w, 4, 4, axis=1)
    with pytest.raises(ValueError, match=r"group must be an int in \[1, inf\)"):
        nm_mask(w, 0, 0)
    with pytest.raises(ValueError, match=r"n_zeros must be an int in \[0, inf\)"):
        nm_mask(w, -1, 2)
    with pytest.raises(TypeError, match="group must be an int"):
        nm_mask(w, 1, 2.0)
    with pytest.raises(IndexError, match=r"axis must be an int in \[-2, 2\)"):
        nm_mask(w, 1, 2, axis=2)


# ----------------------------------------------------------------------- random
@given(weights, sparsities, st.integers(0, 2**32))
def test_random_exact_k_and_reproducible(w, s, seed):
    m1 = random_mask(w, s, np.random.default_rng(seed))
    m2 = random_mask(w, s, np.random.default_rng(seed))
    assert np.array_equal(m1, m2)
    assert np.count_nonzero(m1) == keep_count(w.size, s)
    m3 = random_mask(
        w, min(0.999, s + 0.2), np.random.default_rng(seed + 1), prev_mask=m1
    )
    assert not np.any(m3 & ~m1)


def test_random_is_uniform_enough():
    rng = np.random.default_rng(0)
    counts = sum(random_mask(np.ones(10), 0.5, rng).astype(int) for _ in range(2000))
    assert np.all(np.abs(counts - 1000) < 150)


def test_random_needs_a_generator():
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        random_mask(np.ones(4), 0.5, 0)


# ----------------------------------------------------------------------- validation
CRITERIA = [
    lambda w, s: magnitude_mask(w, s),
    lambda w, s: magnitude_mask(w, s, block_size=(2, 2)),
    lambda w, s: structured_mask(w, s),
    lambda w, s: random_mask(w, s, np.random.default_rng(0)),
    lambda w, s: global_magnitude_masks({"a": w}, s)["a"],
]


@pytest.mark.parametrize("criterion", CRITERIA)
@pytest.mark.parametrize("s", [0.0, 0.99])
def test_sparsity_boundaries_accepted(criterion, s):
    mask = criterion(np.arange(1.0, 17.0).reshape(4, 4), s)
    assert mask.shape == (4, 4) and mask.dtype == np.bool_


@pytest.mark.parametrize("criterion", CRITERIA)
@pytest.mark.parametrize("s", [-0.001, 1.0, float("nan")])
def test_sparsity_boundaries_rejected(criterion, s):
    with pytest.raises(ValueError, match=r"sparsity must be a float in \[0, 1\)"):
        criterion(np.ones((4, 4)), s)


@pytest.mark.parametrize("criterion", CRITERIA)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_rejected(criterion, bad):
    w = np.ones((4, 4))
    w[1, 2] = bad
    with pytest.raises(ValueError, match="must contain only finite values; got 1 NaN"):
        criterion(w, 0.5)
    with pytest.raises(ValueError, match="must contain only finite"):
        nm_mask(w, 2, 4)


def test_weight_array_errors():
    with pytest.raises(
        ValueError, match=r"w must have at least one element; got shape"
    ):
        magnitude_mask(np.ones((0, 3)), 0.5)
    with pytest.raises(TypeError, match="w must be a real numeric array"):
        magnitude_mask(np.ones(3, dtype=complex), 0.5)
    with pytest.raises(TypeError, match="w must be a real numeric array"):
        magnitude_mask(np.ones(3, dtype=bool), 0.5)
    with pytest.raises(
        ValueError, match=r"prev_mask must have shape \(3,\); got \(4,\)"
    ):
        magnitude_mask(np.ones(3), 0.5, prev_mask=np.ones(4, dtype=bool))
    with pytest.raises(TypeError, match="prev_mask must be a bool array"):
        magnitude_mask(np.ones(3), 0.5, prev_mask=np.ones(3))
