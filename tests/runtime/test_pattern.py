"""SparsityPattern: the three products of sparse training against dense products."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparsecore.runtime.csr import MIN_SPLIT_WORK, parallel_ranges, row_bounds
from sparsecore.runtime.pattern import SparsityPattern, transposed
from tests.runtime.rt_helpers import backends


def _case(rng, n_in, n_out, density, batch, dtype):
    mask = rng.random((n_in, n_out)) < density
    k = np.where(mask, rng.standard_normal((n_in, n_out)), 0).astype(dtype)
    xt = rng.standard_normal((n_in, batch)).astype(dtype)
    gt = rng.standard_normal((n_out, batch)).astype(dtype)
    return mask, k, xt, gt


@given(
    n_in=st.integers(1, 12),
    n_out=st.integers(1, 12),
    density=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    batch=st.sampled_from([0, 1, 3, 17]),
    threads=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_products_equal_dense_all_backends(n_in, n_out, density, batch, threads, seed):
    rng = np.random.default_rng(seed)
    mask, k, xt, gt = _case(rng, n_in, n_out, density, batch, np.float64)
    p = SparsityPattern(mask)
    assert p.nnz == np.count_nonzero(mask) and p.shape == (n_in, n_out)
    np.testing.assert_array_equal(p.mask(), mask)
    v = p.gather(k)
    np.testing.assert_array_equal(v, k[mask])  # row-major order of the mask
    np.testing.assert_array_equal(p.scatter(v), k)
    for be in backends():
        yt = np.full((n_out, batch), np.nan)
        p.product_t(v, xt, yt, be, threads)
        np.testing.assert_allclose(yt, k.T @ xt, rtol=1e-12, atol=1e-12)
        dxt = np.full((n_in, batch), np.nan)
        p.product(v, gt, dxt, be, threads)
        np.testing.assert_allclose(dxt, k @ gt, rtol=1e-12, atol=1e-12)
        dv = np.full(p.nnz, np.nan)
        p.sampled_product(xt, gt, dv, be, threads)
        np.testing.assert_allclose(dv, (xt @ gt.T)[mask], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_split_products_float32(dtype):
    # Large enough to be split across threads (nnz * B >= MIN_SPLIT_WORK);
    # every thread count gives the same bits (one thread sums each entry).
    rng = np.random.default_rng(1)
    mask, k, xt, gt = _case(rng, 300, 200, 0.1, 64, dtype)
    p = SparsityPattern(mask)
    assert p.nnz * 64 >= MIN_SPLIT_WORK
    v = p.gather(k)
    k64, x64, g64 = (a.astype(np.float64) for a in (k, xt, gt))
    eps = 1e-4 if dtype == np.float32 else 1e-12
    tol = {"rtol": eps, "atol": eps}
    for be in backends():
        outs = []
        for threads in (1, 2, 3):
            yt = np.empty((200, 64), dtype)
            dxt = np.empty((300, 64), dtype)
            dv = np.empty(p.nnz, dtype)
            p.product_t(v, xt, yt, be, threads)
            p.product(v, gt, dxt, be, threads)
            p.sampled_product(xt, gt, dv, be, threads)
            np.testing.assert_allclose(yt, k64.T @ x64, **tol)
            np.testing.assert_allclose(dxt, k64 @ g64, **tol)
            np.testing.assert_allclose(dv, (x64 @ g64.T)[mask], **tol)
            outs.append((yt, dxt, dv))
        for other in outs[1:]:
            for a, b in zip(outs[0], other, strict=True):
                np.testing.assert_array_equal(a, b)


def test_nan_and_inf_reach_only_the_outputs_of_kept_weights():
    # As CSR (and unlike the dense product, where 0 * nan = nan): a pruned
    # weight does not exist, so a NaN input reaches only the outputs that
    # use it through a kept weight.
    mask = np.array([[True, False], [True, True]])
    k = np.array([[1.0, 0.0], [2.0, 3.0]])
    p = SparsityPattern(mask)
    xt = np.array([[np.nan, 1.0], [1.0, np.inf]])
    kept = [[(i, k[i, j]) for i in range(2) if mask[i, j]] for j in range(2)]
    ref = np.array(
        [[sum(w * xt[i, b] for i, w in kept[j]) for b in range(2)] for j in range(2)]
    )
    for be in backends():
        yt = np.empty((2, 2))
        p.product_t(p.gather(k), xt, yt, be)
        np.testing.assert_array_equal(yt, ref)  # NaN and inf where ref has them


def test_carry_keeps_shared_positions_and_zeroes_new_ones():
    old_mask = np.array([[True, True, False], [False, True, True]])
    new_mask = np.array([[True, False, True], [False, True, True]])
    old, new = SparsityPattern(old_mask), SparsityPattern(new_mask)
    k = np.arange(1.0, 7.0).reshape(2, 3) * old_mask
    carried = new.carry(old.gather(k), old)
    expected = np.where(new_mask & old_mask, k, 0.0)
    np.testing.assert_array_equal(new.scatter(carried), expected)
    empty = SparsityPattern(np.zeros((2, 3), bool))
    assert new.carry(empty.gather(k), empty).tolist() == [0.0] * new.nnz
    assert empty.carry(old.gather(k), old).shape == (0,)


@given(
    shape=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    seed=st.integers(0, 2**16),
)
def test_carry_property_against_dense_masking(shape, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.random(shape) < 0.5, rng.random(shape) < 0.5
    k = rng.standard_normal(shape) * a
    pa, pb = SparsityPattern(a), SparsityPattern(b)
    np.testing.assert_array_equal(pb.scatter(pb.carry(pa.gather(k), pa)), k * b)
    assert pb.equals_mask(b) and (pa.equals_mask(b) == np.array_equal(a, b))


def test_transposed_is_a_view_of_fortran_arrays_and_a_copy_otherwise():
    a = np.arange(12.0).reshape(3, 4)
    t = transposed(a)
    assert t.flags.c_contiguous and not np.shares_memory(t, a)
    np.testing.assert_array_equal(t, a.T)
    f = np.asfortranarray(a)
    assert np.shares_memory(transposed(f), f)
    big = np.random.default_rng(0).standard_normal((130, 7)).astype(np.float32)
    np.testing.assert_array_equal(transposed(big), big.T)  # several blocks


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="mask must be a 2-D bool array"):
        SparsityPattern(np.ones(3, bool))
    with pytest.raises(ValueError, match="mask must be a 2-D bool array"):
        SparsityPattern(np.ones((2, 2)))
    p = SparsityPattern(np.eye(3, dtype=bool))
    with pytest.raises(ValueError, match=r"values must have shape \(3,\)"):
        p.scatter(np.ones(2))
    with pytest.raises(ValueError, match=r"dense must have shape \(3, 3\)"):
        p.gather(np.ones((2, 3)))
    v = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="C-contiguous of dtype float32"):
        p.product_t(v, np.ones((3, 2)), np.empty((3, 2), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        p.product_t(v, np.ones((2, 3), np.float32).T, np.empty((3, 2), np.float32))
    with pytest.raises(ValueError, match=r"out must have shape \(3, 2\)"):
        p.product(v, np.ones((3, 2), np.float32), np.empty((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"must be an array of shape \(3, B\)"):
        p.sampled_product(np.ones((2, 2), np.float32), np.ones((3, 2)), v)
    with pytest.raises(ValueError, match="backend must be one of"):
        p.product(v, np.ones((3, 2), np.float32), np.empty((3, 2), np.float32), "x")


def test_index_bytes_and_repr():
    p = SparsityPattern(np.eye(4, dtype=bool))
    assert p.nbytes == 4 * (3 * 4 + 2 * 5)  # three int32 per nonzero, two indptrs
    assert repr(p) == "SparsityPattern(shape=(4, 4), nnz=4)"
    assert p.density == 0.25


def test_row_bounds_and_parallel_ranges():
    indptr = np.array([0, 10, 10, 11, 30], dtype=np.int32)
    b = row_bounds(indptr, 2)
    assert b[0] == 0 and b[-1] == 4 and np.all(np.diff(b) >= 0)
    seen = []
    parallel_ranges(lambda r0, r1: seen.append((r0, r1)), np.array([0, 2, 2, 4]))
    assert sorted(seen) == [(0, 2), (2, 4)]  # the empty range is skipped

    def boom(r0, r1):
        raise RuntimeError(f"range {r0}")

    with pytest.raises(RuntimeError, match="range"):
        parallel_ranges(boom, np.array([0, 1, 2]))


def test_forward_product_adds_the_bias_on_every_backend():
    rng = np.random.default_rng(3)
    mask, k, xt, _ = _case(rng, 9, 7, 0.3, 5, np.float32)
    bias = rng.standard_normal(7).astype(np.float32)
    p = SparsityPattern(mask)
    for be in backends():
        yt = np.empty((7, 5), np.float32)
        p.product_t(p.gather(k), xt, yt, be, bias=bias)
        np.testing.assert_allclose(yt, k.T @ xt + bias[:, None], rtol=1e-5, atol=1e-5)
    empty = SparsityPattern(np.zeros((9, 7), bool))
    yt = np.empty((7, 5), np.float32)
    empty.product_t(np.zeros(0, np.float32), xt, yt, bias=bias)
    np.testing.assert_array_equal(yt, np.broadcast_to(bias[:, None], (7, 5)))
    with pytest.raises(ValueError, match=r"bias must have shape \(7,\)"):
        p.product_t(p.gather(k), xt, yt, bias=bias[:3])
