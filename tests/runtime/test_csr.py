"""CSRMatrix: construction, validation, and every kernel against the dense product."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sparsecore.runtime import csr
from sparsecore.runtime.csr import CSRMatrix, get_kernel, parallel_rows
from tests.runtime.rt_helpers import backends


def _sparse(rng, shape, density, dtype=np.float32):
    a = rng.standard_normal(shape).astype(dtype)
    a[rng.random(shape) >= density] = 0
    return a


@given(
    a=arrays(
        np.float64,
        st.tuples(st.integers(0, 9), st.integers(0, 9)),
        elements=st.floats(-10, 10, allow_nan=False).map(
            lambda v: 0.0 if abs(v) < 5 else v
        ),
    ),
    batch=st.sampled_from([0, 1, 3, 17]),
    threads=st.integers(1, 4),
)
def test_matmul_equals_dense_all_backends(a, batch, threads):
    m = CSRMatrix.from_dense(a)
    m.check_format()
    np.testing.assert_array_equal(m.toarray(), a)
    assert m.nnz == np.count_nonzero(a)
    rng = np.random.default_rng(0)
    h = rng.standard_normal((a.shape[1], batch) if batch else a.shape[1])
    ref = a @ h
    for be in backends():
        y = m.matmul(h, be)
        assert y.shape == ref.shape and y.dtype == np.float64
        np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
        y2 = np.ones_like(ref)  # the kernels accumulate
        parallel_rows(get_kernel(be), m, np.ascontiguousarray(h), y2, threads)
        np.testing.assert_allclose(y2, ref + 1, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batch", [1, 16, 300])
def test_float32_large_against_dense(batch):
    rng = np.random.default_rng(1)
    a = _sparse(rng, (300, 200), 0.1)
    m = CSRMatrix.from_dense(a)
    h = rng.standard_normal((200, batch)).astype(np.float32)
    if batch == 1:
        h = h[:, 0]
    ref = a.astype(np.float64) @ h.astype(np.float64)
    for be in backends():
        y = m.matmul(h, be)
        assert y.dtype == np.float32
        np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_scipy_public_fallback(monkeypatch):
    pytest.importorskip("scipy")
    csr._load_scipy()
    monkeypatch.setattr(csr, "_sparsetools", False)
    kernel = csr.get_kernel("scipy")
    assert kernel is csr._scipy_public_kernel
    assert not csr.releases_gil(kernel)
    rng = np.random.default_rng(2)
    a = _sparse(rng, (40, 30), 0.2)
    m = CSRMatrix.from_dense(a)
    for h in (rng.standard_normal(30), rng.standard_normal((30, 5))):
        h = h.astype(np.float32)
        np.testing.assert_allclose(m.matmul(h, "scipy"), a @ h, rtol=1e-5, atol=1e-5)
        y = np.zeros((40,) + h.shape[1:], np.float32)
        parallel_rows(kernel, m, h, y, 2)
        np.testing.assert_allclose(y, a @ h, rtol=1e-5, atol=1e-5)


def test_scipy_private_kernel_is_used_and_gil_free():
    pytest.importorskip("scipy")
    k = csr.get_kernel("scipy")
    assert k is csr._scipy_private_kernel
    assert csr.releases_gil(k)


def test_row_bounds_balance_nnz():
    a = np.zeros((100, 50), np.float32)
    a[:10] = 1.0  # all work in the first rows
    m = CSRMatrix.from_dense(a)
    b = m.row_bounds(2)
    assert b[0] == 0 and b[-1] == 100 and np.all(np.diff(b) >= 0)
    assert b[1] <= 10


@pytest.mark.parametrize(
    ("data", "indices", "indptr", "shape", "match"),
    [
        ([1.0], [0], [0, 1], (2, 2), "indptr must have shape"),
        ([1.0], [0], [1, 1, 1], (2, 2), "start at 0"),
        ([1.0, 2.0], [0, 1], [0, 2, 1], (2, 2), "end at nnz"),
        ([1.0, 2.0], [0, 1], [0, 2, 1, 2], (3, 2), "non-decreasing"),
        ([1.0], [2], [0, 1, 1], (2, 2), r"indices must be in \[0, 2\)"),
        ([1.0], [-1], [0, 1, 1], (2, 2), "indices must be in"),
        ([1.0, 2.0], [1, 0], [0, 2, 2], (2, 2), "sorted"),
        ([1.0, 2.0], [1, 1], [0, 2, 2], (2, 2), "duplicates"),
        ([1.0], [0, 1], [0, 1, 1], (2, 2), "indices must have the shape"),
        ([1], [0], [0, 1, 1], (2, 2), "float32 or float64"),
        ([1.0], [0], [0, 1], (1, -1), "shape must be"),
    ],
)
def test_check_format_rejects(data, indices, indptr, shape, match):
    with pytest.raises(ValueError, match=match):
        CSRMatrix(np.asarray(data), np.asarray(indices), np.asarray(indptr), shape)


def test_check_format_accepts_row_boundaries_and_empty():
    # Index drops at a row boundary are fine; so are empty rows and nnz=0.
    CSRMatrix(np.ones(3), np.array([1, 0, 1]), np.array([0, 1, 1, 3]), (3, 2))
    CSRMatrix(np.ones(0), np.zeros(0, int), np.zeros(4, int), (3, 2))
    m = CSRMatrix(np.ones(0), np.zeros(0, int), np.zeros(1, int), (0, 0))
    assert m.toarray().shape == (0, 0)


def test_matmul_shape_mismatch_and_bad_backend():
    m = CSRMatrix.from_dense(np.eye(3, dtype=np.float32))
    with pytest.raises(
        ValueError, match=r"Incompatible shapes \(\(3, 3\) and \(4,\)\)"
    ):
        m.matmul(np.ones(4, np.float32))
    with pytest.raises(ValueError, match="backend must be one of"):
        m.matmul(np.ones(3, np.float32), backend="cuda")


def test_repr_and_nbytes():
    m = CSRMatrix.from_dense(np.eye(3, dtype=np.float32))
    assert repr(m) == "CSRMatrix(shape=(3, 3), nnz=3, dtype=float32)"
    assert m.nbytes == 3 * 4 + 3 * 4 + 4 * 4
    assert m.indices.dtype == np.int32 and m.indptr.dtype == np.int32
