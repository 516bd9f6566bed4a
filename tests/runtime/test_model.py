"""SparseModel: outputs equal the dense network's, compaction, duck typing, options."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparsecore.runtime import SparseModel, compact_layers
from sparsecore.runtime.auto import auto_max_density
from tests.runtime.rt_helpers import (
    ACTS,
    backends,
    cast_layers,
    dense_forward,
    random_layers,
    tolerances,
)


@st.composite
def networks(draw):
    n_layers = draw(st.integers(1, 3))
    widths = draw(
        st.lists(st.integers(1, 9), min_size=n_layers + 1, max_size=n_layers + 1)
    )
    acts = draw(st.lists(st.sampled_from(ACTS), min_size=n_layers, max_size=n_layers))
    sparsity = draw(st.floats(0.0, 0.999))
    structured = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return random_layers(rng, widths, acts, sparsity, structured), rng


@given(
    net=networks(),
    fmt=st.sampled_from(["auto", "csr", "dense"]),
    dtype=st.sampled_from(["float32", "float64"]),
    n=st.sampled_from([1, 2, 17]),
    compact=st.booleans(),
    threads=st.sampled_from([1, 2]),
)
def test_predict_equals_dense_all_backends(net, fmt, dtype, n, compact, threads):
    layers, rng = net
    layers = cast_layers(layers, dtype)
    x = rng.standard_normal((n, layers[0][0].shape[0])).astype(dtype)
    ref = dense_forward(layers, x)
    for be in backends():
        sm = SparseModel.from_layers(
            layers,
            format=fmt,
            dtype=dtype,
            backend=be,
            compact=compact,
            threads=threads,
            batch_size=n,
        )
        y = sm.predict(x)
        assert y.shape == ref.shape and y.dtype == np.dtype(dtype)
        np.testing.assert_allclose(y, ref, **tolerances(dtype, ref))
        # chunked and single-sample paths agree with the full batch
        np.testing.assert_allclose(
            sm.predict(x, batch_size=2), y, **tolerances(dtype, ref)
        )
        np.testing.assert_allclose(sm.predict(x[0]), y[0], **tolerances(dtype, ref))


def test_threaded_split_equals_serial(monkeypatch):
    from sparsecore.runtime import plan as plan_mod
    from sparsecore.runtime.plan import LayerPlan

    monkeypatch.setattr(plan_mod, "MIN_SPLIT_WORK", 1)
    rng = np.random.default_rng(3)
    layers = random_layers(rng, [50, 60, 40, 3], ["relu", "tanh", "linear"], 0.8)
    x = rng.standard_normal((33, 50))
    ref = dense_forward(layers, x)
    base = SparseModel.from_layers(layers, format="csr", dtype="float64")
    for be in backends():
        for threads in (1, 2, 3):
            plans = [LayerPlan("csr", be, threads, "fixed")] * len(base.layers)
            sm = SparseModel(base.layers, base.input_dim, threads=threads, plans=plans)
            assert [p.threads for p in sm.plan] == [threads] * 3
            np.testing.assert_allclose(sm.predict(x), ref, rtol=1e-12, atol=1e-12)


@given(net=networks())
def test_compaction_preserves_outputs(net):
    layers, rng = net
    x = rng.standard_normal((5, layers[0][0].shape[0]))
    full = SparseModel.from_layers(layers, dtype="float64", compact=False)
    small = SparseModel.from_layers(layers, dtype="float64", compact=True)
    ref = full.predict(x)
    np.testing.assert_allclose(small.predict(x), ref, **tolerances("float64", ref))
    assert small.nbytes <= full.nbytes
    assert small.input_dim == full.input_dim and small.output_dim == full.output_dim


def _norm(act):
    if isinstance(act, tuple):
        return act
    return (act, 0.3 if act == "leaky_relu" else 0.0)


def test_compaction_rules_exact():
    # 3 -> 4 -> 2: neuron 0 has no outgoing weights, neuron 1 no incoming
    # ones (constant relu(bias) = 2, folded into the next bias), neurons 2-3 live.
    w0 = np.array([[0.0, 0, 1, 2], [1, 0, 3, 0], [1, 0, 0, 1]])
    b0 = np.array([0.5, 2.0, 0.1, -0.2])
    w1 = np.array([[0.0, 0], [1, -1], [2, 0], [0, 3]])
    b1 = np.array([1.0, 1.0])
    layers = [(w0, b0, "relu", 0.0), (w1, b1, "linear", 0.0)]
    (k0, c0, _, _), (k1, c1, _, _) = compact_layers(layers)
    np.testing.assert_array_equal(k0, w0[:, 2:])
    np.testing.assert_array_equal(c0, b0[2:])
    np.testing.assert_array_equal(k1, w1[2:])
    np.testing.assert_array_equal(c1, [3.0, -1.0])


def test_compaction_cascades_and_keeps_softmax():
    # Removing layer-1 neuron 0 (no outgoing) leaves layer-0 neuron 0 without
    # outgoing weights: it goes too, at the next pass.
    w0 = np.array([[1.0, 1.0]])
    w1 = np.array([[1.0, 0.0], [0.0, 1.0]])
    w2 = np.array([[0.0], [1.0]])
    layers = [
        (w0, np.zeros(2), "relu", 0.0),
        (w1, np.zeros(2), "relu", 0.0),
        (w2, np.zeros(1), "linear", 0.0),
    ]
    out = compact_layers(layers)
    assert [k.shape for k, _, _, _ in out] == [(1, 1), (1, 1), (1, 1)]
    soft = [
        (w0, np.zeros(2), "softmax", 0.0),
        (np.array([[0.0], [1.0]]), np.zeros(1), "linear", 0.0),
    ]
    assert [k.shape for k, _, _, _ in compact_layers(soft)] == [(1, 2), (2, 1)]


def test_structured_pruning_is_compacted_to_dense_blocks():
    rng = np.random.default_rng(4)
    layers = random_layers(
        rng, [30, 40, 40, 2], ["relu", "relu", "linear"], 0.75, structured=True
    )
    sm = SparseModel.from_layers(layers, format="auto")
    # 75 % of the hidden neurons are gone
    assert sm.layers[0].shape == (30, 10) and sm.layers[1].shape == (10, 10)
    assert sm.layers[2].shape == (10, 2)
    assert [lay.original_shape for lay in sm.layers] == [(30, 40), (40, 40), (40, 2)]
    assert all(lay.format == "dense" for lay in sm.layers)
    x = rng.standard_normal((4, 30))
    ref = dense_forward(layers, x)
    np.testing.assert_allclose(sm.predict(x), ref, **tolerances("float32", ref))


def test_fully_pruned_hidden_layer_collapses_to_constant():
    w0 = np.zeros((3, 4))
    b0 = np.array([1.0, -1.0, 2.0, 0.0])
    w1 = np.ones((4, 2))
    layers = [(w0, b0, "relu"), (w1, np.zeros(2), "linear")]
    sm = SparseModel.from_layers(layers, dtype="float64")
    assert sm.layers[0].shape == (3, 0)
    np.testing.assert_array_equal(sm.predict(np.ones((2, 3))), [[3.0, 3.0]] * 2)
    assert "3x0" in sm.summary()


def test_auto_format_rule():
    rng = np.random.default_rng(5)
    widths = [1000, 1000, 100, 1]
    layers = random_layers(rng, widths, ["relu", "relu", "linear"], 0.995)
    layers[1] = (rng.standard_normal((1000, 100)), layers[1][1], "relu")
    for be in backends():
        for batch in (1, 16, 1024):
            sm = SparseModel.from_layers(
                layers, format="auto", backend=be, compact=False, batch_size=batch
            )
            # 0.5 % dense: CSR for every backend; dense; 100 weights: dense
            assert [lay.format for lay in sm.layers] == ["csr", "dense", "dense"]
            assert sm.plan[0].backend == be and sm.plan[1].backend == "blas"
    assert auto_max_density("scipy", 4) >= min(
        auto_max_density("scipy", 1), auto_max_density("scipy", 16)
    )
    assert auto_max_density("numpy", 10**6) == auto_max_density("numpy", 1024)


# ----------------------------------------------------------- duck typing


class _Dense:
    def __init__(self, kernel, bias=None, name="dense"):
        self.name = name
        self.params = {"kernel": kernel}
        if bias is not None:
            self.params["bias"] = bias


class _Act:
    def __init__(self, activation, alpha=None):
        self.name = activation
        self.params = {}
        self.activation = activation
        if alpha is not None:
            self.alpha = alpha


class _Model:
    def __init__(self, layers):
        self.layers = layers


def test_from_model_duck_typing():
    rng = np.random.default_rng(6)
    w0, b0 = rng.standard_normal((4, 5)), rng.standard_normal(5)
    w1 = rng.standard_normal((5, 3))
    model = _Model(
        [
            _Dense(w0, b0),
            _Act("leaky_relu", 0.1),
            _Act("linear"),
            _Dense(w1),
            _Act("softmax"),
        ]
    )
    sm = SparseModel.from_model(model, format="csr", dtype="float64")
    ref = dense_forward(
        [(w0, b0, ("leaky_relu", 0.1)), (w1, np.zeros(3), "softmax")],
        x := rng.standard_normal((6, 4)),
    )
    np.testing.assert_allclose(sm.predict(x), ref, rtol=1e-12, atol=1e-12)
    assert [lay.activation for lay in sm.layers] == ["leaky_relu", "softmax"]
    assert sm.layers[0].alpha == 0.1


@pytest.mark.parametrize(
    ("layers", "exc", "match"),
    [
        ([_Act("relu"), _Dense(np.ones((2, 2)))], ValueError, "before the first Dense"),
        (
            [_Dense(np.ones((2, 2))), _Act("relu"), _Act("tanh")],
            ValueError,
            "consecutive activations",
        ),
        ([_Dense(np.ones((2, 2))), object()], TypeError, "must be a Dense"),
        ([_Act("relu")], ValueError, "before the first Dense"),
        ([], ValueError, "at least one Dense"),
        ([_Dense(np.ones((2, 2))), _Act("swish")], ValueError, "activation must be"),
        (
            [_Dense(np.ones((2, 2))), _Dense(np.ones((3, 2)))],
            ValueError,
            "must have 2 inputs",
        ),
    ],
)
def test_from_model_rejects(layers, exc, match):
    with pytest.raises(exc, match=match):
        SparseModel.from_model(_Model(layers))


def test_from_model_rejects_non_model():
    with pytest.raises(TypeError, match="must have a 'layers'"):
        SparseModel.from_model(42)


def test_from_real_sequential():
    sc = pytest.importorskip("sparsecore")
    if not hasattr(sc, "Sequential"):
        pytest.skip("sparsecore.nn not available")
    model = sc.Sequential(
        [
            sc.Dense(16),
            sc.ReLU(),
            sc.Dense(8),
            sc.LeakyReLU(alpha=0.2),
            sc.Dense(3),
            sc.Softmax(),
        ],
        input_dim=10,
        seed=0,
    )
    weights = model.weights()
    rng = np.random.default_rng(7)
    for name, w in weights.items():
        if name.endswith("kernel"):
            w[rng.random(w.shape) < 0.7] = 0
    weights["dense_0/kernel"][:, :4] = 0  # 4 dead neurons (structured)
    x = rng.standard_normal((20, 10)).astype(np.float32)
    ref = model.predict(x)
    for fmt in ("auto", "csr", "dense"):
        for be in backends():
            sm = SparseModel.from_model(model, format=fmt, backend=be)
            np.testing.assert_allclose(sm.predict(x), ref, rtol=1e-5, atol=1e-6)
    assert sm.layers[0].shape[1] <= 12  # compacted


# ----------------------------------------------------------- validation


def test_from_layers_validation():
    w = np.ones((2, 3))
    with pytest.raises(ValueError, match="format must be one of"):
        SparseModel.from_layers([(w, None, None)], format="coo")
    with pytest.raises(ValueError, match="dtype must be one of"):
        SparseModel.from_layers([(w, None, None)], dtype="float16")
    with pytest.raises(ValueError, match="backend must be one of"):
        SparseModel.from_layers([(w, None, None)], backend="gpu")
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        SparseModel.from_layers([(w, np.ones(2), None)])
    with pytest.raises(ValueError, match="2-D real"):
        SparseModel.from_layers([(np.ones(3), None, None)])
    with pytest.raises(ValueError, match="2-D real"):
        SparseModel.from_layers([(np.ones((2, 2), complex), None, None)])
    with pytest.raises(ValueError, match="must be finite"):
        SparseModel.from_layers([(np.full((2, 2), np.nan), None, None)])
    with pytest.raises(ValueError, match="must be finite"):
        SparseModel.from_layers([(w, np.array([0, 0, np.inf]), None)])
    with pytest.raises(TypeError, match="must be a \\(kernel, bias, activation\\)"):
        SparseModel.from_layers([(w, None)])
    with pytest.raises(ValueError, match="at least one layer"):
        SparseModel.from_layers([])
    with pytest.raises(TypeError, match="activation must be None"):
        SparseModel.from_layers([(w, None, 3)])
    with pytest.raises(ValueError, match="alpha must be a finite"):
        SparseModel.from_layers([(w, None, ("leaky_relu", float("nan")))])
    with pytest.raises(TypeError, match="compact must be a bool"):
        SparseModel.from_layers([(w, None, None)], compact=1)
    for bad, exc in ((0, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(exc, match="batch_size must be"):
            SparseModel.from_layers([(w, None, None)], batch_size=bad)
        with pytest.raises(exc, match="threads must be"):
            SparseModel.from_layers([(w, None, None)], threads=bad)
    SparseModel.from_layers([(w, None, None)], batch_size=1, threads=1)


def test_predict_validation_and_io_types():
    sm = SparseModel.from_layers([(np.ones((2, 3)), None, "relu")])
    with pytest.raises(ValueError, match=r"x must have shape \(n_samples, 2\)"):
        sm.predict(np.ones((4, 3)))
    with pytest.raises(ValueError, match="x must have shape"):
        sm.predict(np.ones((1, 1, 2)))
    with pytest.raises(TypeError, match="x must be a real numeric array"):
        sm.predict(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match=r"batch_size must be an int in \[1, inf\)"):
        sm.predict(np.ones((1, 2)), batch_size=0)
    y = sm.predict([[1, 2]])  # lists and ints are cast
    assert y.dtype == np.float32 and y.tolist() == [[3.0, 3.0, 3.0]]
    assert sm.predict(np.ones((0, 2))).shape == (0, 3)
    # the result is a new array, not a reused buffer
    a, b = sm.predict(np.ones((1, 2))), sm.predict(np.zeros((1, 2)))
    assert a.tolist() == [[2.0, 2.0, 2.0]] and b.tolist() == [[0.0, 0.0, 0.0]]


def test_non_finite_input_refused():
    # As Sequential.predict: NaN and inf never silently propagate (issue 10).
    sm = SparseModel.from_layers([(np.eye(2), None, "relu")], format="csr")
    with pytest.raises(ValueError, match="x must contain only finite values"):
        sm.predict(np.array([[np.nan, 1.0]]))


def test_summary_and_repr():
    rng = np.random.default_rng(8)
    layers = random_layers(rng, [100, 50, 1], ["relu", "linear"], 0.99)
    sm = SparseModel.from_layers(layers, format="csr")
    text = sm.summary()
    assert "100x50" in text and "csr" in text and str(sm.nbytes) in text
    assert repr(sm).startswith("SparseModel(input_dim=100, output_dim=1")
    assert sm.nbytes == sum(lay.nbytes for lay in sm.layers)
    np.testing.assert_array_equal(sm.layers[-1].kernel().shape, sm.layers[-1].shape)


def test_constructor_validates_layers():
    from sparsecore.runtime import SparseLayer

    good = SparseLayer(np.ones((3, 2), np.float32), np.zeros(3, np.float32), "relu")
    sm = SparseModel([good], 2, backend="numpy")
    assert sm.output_dim == 3 and sm.backend == "numpy"
    with pytest.raises(ValueError, match="must have 3 inputs"):
        SparseModel([good, good], 2)
    mixed = SparseLayer(np.ones((3, 2)), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="weight and bias must be float32"):
        SparseModel([mixed], 2)
    bad_act = SparseLayer(np.ones((3, 2), np.float32), np.zeros(3, np.float32), "gelu")
    with pytest.raises(ValueError, match="activation must be one of"):
        SparseModel([bad_act], 2)
    with pytest.raises(TypeError, match="must be a SparseLayer"):
        SparseModel([object()], 2)
    with pytest.raises(ValueError, match="at least one layer"):
        SparseModel([], 2)


# ------------------------------------------------------------- predict's input checks
def test_predict_checks_its_input_as_sequential_predict():
    # the same rules as Sequential.predict (issue 10), plus one 1-D sample
    rng = np.random.default_rng(3)
    layers = random_layers(rng, [4, 6, 2], ["relu", "linear"], 0.5)
    sm = SparseModel.from_layers(layers, format="csr")
    x = rng.standard_normal((5, 4)).astype(np.float32)
    dense = sm.predict(x)
    assert sm.predict(x[1]).shape == (2,)
    # (batch 1 runs another kernel than a batch: rounding may differ)
    np.testing.assert_allclose(sm.predict(x[1]), dense[1], rtol=1e-6)
    np.testing.assert_allclose(sm.predict(np.asfortranarray(x)), dense, rtol=1e-6)
    np.testing.assert_allclose(sm.predict(x[:, ::-1][:, ::-1]), dense, rtol=1e-6)
    assert sm.predict(x.astype(np.float64)).dtype == np.float32
    assert sm.predict((x > 0).astype(bool)).shape == (5, 2)
    assert sm.predict(np.ones((2, 4), np.int64)).shape == (2, 2)
    assert np.isfinite(sm.predict(np.full((1, 4), 3e38, np.float32))).shape == (1, 2)
    cases = [
        (np.ones(5), ValueError, r"x must have shape \(n_samples, 4\) or \(4,\); got"),
        (np.ones(3), ValueError, r"got \(3,\)"),
        (np.float32(1), ValueError, "x must have shape"),
        (np.ones((2, 4, 1)), ValueError, "x must have shape"),
        (np.array([[np.nan, 0, 0, 0]]), ValueError, "only finite values.*row 0"),
        (np.array([0, np.inf, 0, 0], np.float32), ValueError, "only finite values"),
        (np.array([[0, 0, 0, 1e300]]), ValueError, "must fit in float32"),
        (np.array([["a"] * 4]), TypeError, "x must be a real numeric array"),
        (np.ones((1, 4), np.complex64), TypeError, "x must be a real numeric array"),
        ([[1, 2], [3]], ValueError, "rectangular"),
    ]
    for bad, error, match in cases:
        with pytest.raises(error, match=match):
            sm.predict(bad)


def test_predict_refuses_nan_in_an_input_no_weight_reads():
    # column 0 feeds nothing: the output would be finite, the input is still bad
    k = np.zeros((3, 2), np.float32)
    k[1:] = 1.0
    sm = SparseModel.from_layers([(k, None, "relu")], format="csr", compact=False)
    with pytest.raises(ValueError, match="only finite values"):
        sm.predict(np.array([np.nan, 1.0, 1.0]))
    with pytest.raises(ValueError, match="only finite values"):
        sm.predict(np.array([[1.0, 1.0, 1.0], [-np.inf, 1.0, 1.0]]))


# ------------------------------------------------- load-time auto and plans


@st.composite
def big_networks(draw):
    # Layers of up to 90 x 90 weights, so some pass AUTO_MIN_SIZE (4096) and
    # the formats really are re-chosen.
    n_layers = draw(st.integers(1, 3))
    widths = draw(
        st.lists(st.integers(1, 90), min_size=n_layers + 1, max_size=n_layers + 1)
    )
    acts = draw(st.lists(st.sampled_from(ACTS), min_size=n_layers, max_size=n_layers))
    sparsity = draw(st.sampled_from([0.0, 0.5, 0.9, 0.97, 0.999]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return random_layers(rng, widths, acts, sparsity, draw(st.booleans())), rng


@given(
    net=big_networks(),
    saved=st.sampled_from(["auto", "csr", "dense"]),
    load_format=st.sampled_from(["auto", "saved", "csr", "dense"]),
    dtype=st.sampled_from(["float32", "float64"]),
    batch=st.sampled_from([None, 1, 3, 64, 2048]),
    n=st.sampled_from([1, 5]),
    data=st.data(),
)
def test_load_time_auto_keeps_predict(
    tmp_path_factory, net, saved, load_format, dtype, batch, n, data
):
    layers, rng = net
    backend = data.draw(st.sampled_from(["auto", *backends()]))
    plan = data.draw(st.sampled_from(["estimate", "estimate", "measure"]))
    sm = SparseModel.from_layers(layers, format=saved, dtype=dtype, batch_size=16)
    path = tmp_path_factory.mktemp("load") / "m.npz"
    sm.save(path)
    back = SparseModel.load(
        path, format=load_format, batch_size=batch, backend=backend, plan=plan
    )
    assert back.batch_size == (16 if batch is None else batch)
    fmts = [lay.format for lay in back.layers]
    if load_format == "saved":
        assert fmts == [lay.format for lay in sm.layers]
    elif load_format in ("csr", "dense"):
        assert fmts == [load_format] * len(fmts)
    for lay, p in zip(back.layers, back.plan, strict=True):
        assert lay.format == p.format
        assert p.backend == "blas" or backend in ("auto", p.backend)
    x = rng.standard_normal((n, sm.input_dim)).astype(dtype)
    ref = sm.predict(x)
    # the same weights, so only the order of the float additions differs
    np.testing.assert_allclose(back.predict(x), ref, **tolerances(dtype, ref))


def test_load_rechooses_formats_for_the_backend_and_batch(tmp_path):
    rng = np.random.default_rng(11)
    layers = random_layers(rng, [1000, 1000, 1], ["relu", "linear"], 0.9)
    path = tmp_path / "m.npz"
    # saved as CSR everywhere, as a file made for a fast CSR backend might be
    SparseModel.from_layers(layers, format="csr", compact=False, batch_size=16).save(
        path
    )
    sm = SparseModel.load(path, backend="numpy", batch_size=256)
    # 10 % dense is far above numpy's limit at batch 256: dense again
    assert sm.layers[0].format == "dense" and sm.plan[0].backend == "blas"
    assert sm.batch_size == 256
    kept = SparseModel.load(path, format="saved", backend="numpy")
    assert [lay.format for lay in kept.layers] == ["csr", "csr"]
    assert kept.batch_size == 16 and kept.plan[0].backend == "numpy"
    x = rng.standard_normal((3, 1000)).astype(np.float32)
    np.testing.assert_allclose(sm.predict(x), kept.predict(x), rtol=1e-4, atol=1e-4)
    very = random_layers(rng, [1000, 1000, 1], ["relu", "linear"], 0.995)
    SparseModel.from_layers(very, format="dense", compact=False).save(path)
    assert SparseModel.load(path, backend="numpy").layers[0].format == "csr"


def test_load_validates_options_before_reading(tmp_path):
    missing = tmp_path / "none.npz"  # never opened: the options fail first
    with pytest.raises(ValueError, match="format must be one of"):
        SparseModel.load(missing, format="coo")
    with pytest.raises(ValueError, match="plan must be one of"):
        SparseModel.load(missing, plan="exhaustive")
    with pytest.raises(ValueError, match="batch_size must be an int in"):
        SparseModel.load(missing, batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        SparseModel.load(missing, batch_size=2.0)
    with pytest.raises(ValueError, match="threads must be an int in"):
        SparseModel.load(missing, threads=0)
    with pytest.raises(ValueError, match="backend must be one of"):
        SparseModel.load(missing, backend="cuda")
    with pytest.raises(FileNotFoundError):
        SparseModel.load(missing)


def test_plans_given_to_the_constructor_are_checked():
    from sparsecore.runtime.plan import LayerPlan

    sm = SparseModel.from_layers([(np.eye(70), None, "relu")], format="csr")
    layers = sm.layers
    with pytest.raises(ValueError, match="one LayerPlan per layer"):
        SparseModel(layers, 70, plans=[])
    with pytest.raises(TypeError, match="must be a LayerPlan"):
        SparseModel(layers, 70, plans=["csr"])
    with pytest.raises(ValueError, match="is for a dense layer; layer 0 is csr"):
        SparseModel(layers, 70, plans=[LayerPlan("dense", "blas", 0)])
    ok = SparseModel(layers, 70, plans=[LayerPlan("csr", "numpy", 1, "fixed")])
    assert ok.plan[0].source == "fixed"
    text = ok.summary()
    assert " kernel " in text.splitlines()[0] and " numpy " in text.splitlines()[2]
    assert "plan=fixed" in text


def test_measure_plan_in_from_layers(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSECORE_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(12)
    layers = random_layers(rng, [200, 300, 1], ["relu", "linear"], 0.95)
    sm = SparseModel.from_layers(layers, plan="measure", batch_size=8, compact=False)
    assert sm.plan[0].source == "measure" and sm.plan[1].source == "fixed"
    again = SparseModel.from_layers(layers, plan="measure", batch_size=8, compact=False)
    assert again.plan[0].source == "cache"
    assert again.plan[0].label == sm.plan[0].label
    x = rng.standard_normal((8, 200))
    ref = dense_forward(layers, x)
    np.testing.assert_allclose(sm.predict(x), ref, rtol=1e-4, atol=1e-4)
