"""Sorted, sliced ELLPACK: the layout, the slicing, and its products against dense."""

import itertools
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sparsecore.runtime import ell
from sparsecore.runtime.csr import CSRMatrix
from sparsecore.runtime.ell import COLUMNS, ROWS, SlicedELL, slice_rows


def _sparse(rng, shape, density, dtype=np.float32):
    a = rng.standard_normal(shape).astype(dtype)
    a[rng.random(shape) >= density] = 0
    return a


def _ell(a, major):
    m = CSRMatrix.from_dense(a)
    return SlicedELL(m.data, m.indices, m.indptr, m.shape, major)


matrices = arrays(
    np.float64,
    st.tuples(st.integers(0, 12), st.integers(1, 12)),
    elements=st.floats(-10, 10, allow_nan=False).map(
        lambda v: 0.0 if abs(v) < 6 else v
    ),
)


@given(a=matrices, batch=st.sampled_from([1, 2, 5, 33]), bias=st.booleans())
def test_products_equal_dense(a, batch, bias):
    rng = np.random.default_rng(0)
    M, N = a.shape
    h = rng.standard_normal((N, batch))
    b = rng.standard_normal((M, 1))
    y0 = rng.standard_normal((M, batch))
    e = _ell(a, ROWS)
    y = y0.copy()
    if bias:
        e.matmat(h, y, b)
        np.testing.assert_allclose(y, a @ h + b, rtol=1e-12, atol=1e-12)
    else:
        e.matmat(h, y)  # accumulates
        np.testing.assert_allclose(y, y0 + a @ h, rtol=1e-12, atol=1e-12)
    e = _ell(a, COLUMNS)
    x = np.ascontiguousarray(h[:, 0])
    y = y0[:, 0].copy()
    if bias:
        e.matvec(x, y, b[:, 0])
        np.testing.assert_allclose(y, a @ x + b[:, 0], rtol=1e-12, atol=1e-12)
    else:
        e.matvec(x, y)
        np.testing.assert_allclose(y, y0[:, 0] + a @ x, rtol=1e-12, atol=1e-12)
    # every nonzero is stored once; padding holds zeros only
    assert np.count_nonzero(e.vals) == np.count_nonzero(a)
    assert e.padded >= np.count_nonzero(a)


@pytest.mark.parametrize("batch", [1, 16, 300])
@pytest.mark.parametrize("density", [0.01, 0.1, 0.5])
def test_float32_layer_against_float64_dense(batch, density):
    rng = np.random.default_rng(1)
    a = _sparse(rng, (300, 200), density)
    h = rng.standard_normal((200, batch)).astype(np.float32)
    ref = a.astype(np.float64) @ h.astype(np.float64)
    y = np.zeros((300, batch), np.float32)
    if batch == 1:
        _ell(a, COLUMNS).matvec(np.ascontiguousarray(h[:, 0]), y[:, 0])
        y = y[:, :1]
    else:
        _ell(a, ROWS).matmat(h, y)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_chunks_cover_every_row(monkeypatch):
    # Force chunks of a few rows: the chunked gather must reach every row.
    monkeypatch.setattr(ell, "CHUNK_ELEMENTS", 7)
    rng = np.random.default_rng(2)
    a = _sparse(rng, (50, 40), 0.2, np.float64)
    h = rng.standard_normal((40, 3))
    y = np.zeros((50, 3))
    _ell(a, ROWS).matmat(h, y)
    np.testing.assert_allclose(y, a @ h, rtol=1e-12, atol=1e-12)


def test_rows_sorted_longest_first_and_empty_rows_get_zero():
    a = np.zeros((5, 4))
    a[1, :3] = 1.0
    a[3, :1] = 2.0
    a[4, :] = 3.0
    e = _ell(a, COLUMNS)
    assert e.order.tolist() == [4, 1, 3]
    assert e.inverse.tolist() == [3, 1, 3, 2, 0]  # rows 0, 2: the zero slot
    y = np.full(5, 7.0)
    e.matvec(np.ones(4), y, np.zeros(5))
    assert y.tolist() == [0.0, 3.0, 0.0, 2.0, 12.0]


def test_nan_reaches_only_the_rows_that_use_its_column():
    a = np.zeros((4, 3))
    a[0, 0] = 1.0  # padded to the longest row (3 slots), repeating column 0
    a[1, :] = 1.0
    a[2, 2] = 1.0
    x = np.array([1.0, np.nan, 1.0])
    for major in (COLUMNS, ROWS):
        e = _ell(a, major)
        if major == COLUMNS:
            y = np.zeros(4)
            e.matvec(x, y)
        else:
            y = np.zeros((4, 1))
            e.matmat(x[:, None], y)
            y = y[:, 0]
        assert y[0] == 1.0 and np.isnan(y[1]) and y[2] == 1.0 and y[3] == 0.0


def test_wrong_major_raises():
    e = _ell(np.eye(3), ROWS)
    with pytest.raises(ValueError, match="matvec needs major='columns'"):
        e.matvec(np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="matmat needs major='rows'"):
        _ell(np.eye(3), COLUMNS).matmat(np.ones((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="major must be one of"):
        SlicedELL(np.ones(1), np.zeros(1, np.int32), np.array([0, 1]), (1, 1), "x")


def test_threads_do_not_share_a_workspace():
    rng = np.random.default_rng(3)
    a = _sparse(rng, (400, 300), 0.05)
    e = _ell(a, COLUMNS)
    xs = [rng.standard_normal(300).astype(np.float32) for _ in range(4)]
    errors = []

    def work(x):
        for _ in range(200):
            y = np.zeros(400, np.float32)
            e.matvec(x, y)
            if not np.allclose(y, a @ x, rtol=1e-4, atol=1e-4):
                errors.append(1)

    threads = [threading.Thread(target=work, args=(x,)) for x in xs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# --------------------------------------------------------------- slicing


def _cost(lengths, cuts, slice_cost):
    return sum((r1 - r0) * lengths[r0] + slice_cost for r0, r1 in cuts)


@given(
    lengths=st.lists(st.integers(1, 60), min_size=1, max_size=14).map(
        lambda v: np.array(sorted(v, reverse=True))
    ),
    slice_cost=st.sampled_from([0, 3, 40, 1000]),
    max_slices=st.integers(1, 4),
)
def test_slice_rows_is_optimal(lengths, slice_cost, max_slices):
    cuts = slice_rows(lengths, slice_cost, max_slices)
    m = lengths.shape[0]
    assert cuts[0][0] == 0 and cuts[-1][1] == m and len(cuts) <= max_slices
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in itertools.pairwise(cuts))
    # brute force over every set of cuts
    best = min(
        _cost(lengths, list(itertools.pairwise((0, *inner, m))), slice_cost)
        for k in range(max_slices)
        for inner in itertools.combinations(range(1, m), k)
    )
    assert _cost(lengths, cuts, slice_cost) == pytest.approx(best)


def test_slice_rows_thins_many_lengths_and_handles_none():
    lengths = np.arange(5000, 0, -1)
    cuts = slice_rows(lengths)
    assert cuts[0][0] == 0 and cuts[-1][1] == 5000 and len(cuts) <= ell.MAX_SLICES
    assert slice_rows(np.zeros(0, np.intp)) == []


@pytest.mark.parametrize("shape", [(1, 40), (30, 20), (0, 5)])
def test_rows_in_order_write_straight_to_the_output(shape):
    # Equal row lengths (or one row): no reordering, the sums go to y directly.
    rng = np.random.default_rng(4)
    a = rng.standard_normal(shape)
    b = rng.standard_normal(shape[0])
    x = rng.standard_normal((shape[1], 3))
    e = _ell(a, COLUMNS)
    assert e._in_order
    y = np.full(shape[0], np.nan)
    e.matvec(np.ascontiguousarray(x[:, 0]), y, b)
    np.testing.assert_allclose(y, a @ x[:, 0] + b, rtol=1e-12, atol=1e-12)
    y = np.full((shape[0], 3), np.nan)
    _ell(a, ROWS).matmat(x, y, b[:, None])
    np.testing.assert_allclose(y, a @ x + b[:, None], rtol=1e-12, atol=1e-12)
