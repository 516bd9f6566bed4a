"""Pruning at initialization: SNIP, GraSP and SynFlow against naive references."""

import inspect

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sparsecore as sc
from sparsecore.nn.gradcheck import numerical_gradient
from sparsecore.prune import (
    allocate_masks,
    connected_inputs,
    grasp_masks,
    grasp_scores,
    hessian_gradient_product,
    keep_count,
    layer_collapse,
    loss_gradients,
    snip_masks,
    snip_scores,
    synflow_masks,
    synflow_scores,
)


def tiny(act=sc.Tanh, dtype="float64", seed=0, hidden=(5, 4), n_in=3, n_out=3):
    layers = []
    for h in hidden:
        layers += [sc.Dense(h, bias_initializer="glorot_uniform"), act()]
    model = sc.Sequential(
        [*layers, sc.Dense(n_out)], input_dim=n_in, seed=seed, dtype=dtype
    )
    model.compile(
        sc.SparseCategoricalCrossentropy(from_logits=True), "adam", metrics=["accuracy"]
    )
    return model


def batch(n=12, n_in=3, n_out=3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_in)), rng.integers(0, n_out, n)


def kernels(model):
    return [n for n in model.weights() if n.endswith("/kernel")]


def loss_of(model, x, y, temperature=1.0):
    return lambda: model.loss.value(y, model.forward(x, training=False) / temperature)


def test_loss_gradients_match_finite_differences():
    model = tiny()
    x, y = batch()
    for t in (1.0, 7.0):
        grads = loss_gradients(model, x, y, temperature=t)
        for name in kernels(model):
            w = model.weights()[name]
            idx = np.arange(w.size)
            num = numerical_gradient(loss_of(model, x, y, t), w, idx)
            np.testing.assert_allclose(
                grads[name].reshape(-1), num, rtol=1e-6, atol=1e-9
            )


def naive_snip(model, x, y, eps=1e-6):
    """|dL/dc_j| at c = 1 for w = c * theta, one central difference per weight."""
    f = loss_of(model, x, y)
    out = {}
    for name in kernels(model):
        w = model.weights()[name]
        s = np.empty(w.size)
        for j in range(w.size):
            orig = w.flat[j]
            w.flat[j] = orig * (1 + eps)
            up = f()
            w.flat[j] = orig * (1 - eps)
            down = f()
            w.flat[j] = orig
            s[j] = abs((up - down) / (2 * eps))
        out[name] = s.reshape(w.shape)
    return out


def test_snip_scores_and_masks_against_per_weight_finite_differences():
    model = tiny()
    x, y = batch()
    scores = snip_scores(model, x, y)
    want = naive_snip(model, x, y)
    for n in want:
        np.testing.assert_allclose(scores[n], want[n], rtol=1e-5, atol=1e-10)
    for scope in ("global", "uniform"):
        masks = snip_masks(model, x, y, 0.6, scope)
        ref = allocate_masks(want, 0.6, scope)
        for n in want:
            np.testing.assert_array_equal(masks[n], ref[n])


def naive_hessian(model, x, y, names, temperature, eps=1e-4):
    """The full Hessian of the loss over `names` by second differences."""
    f = loss_of(model, x, y, temperature)
    live = model.weights()
    slots = [(n, j) for n in names for j in range(live[n].size)]
    h = np.empty((len(slots), len(slots)))

    def at(deltas):
        saved = [(n, j, live[n].flat[j]) for n, j, _ in deltas]
        for n, j, d in deltas:
            live[n].flat[j] += d
        v = f()
        for n, j, v0 in saved:
            live[n].flat[j] = v0
        return v

    for a, (na, ja) in enumerate(slots):
        for b, (nb, jb) in enumerate(slots[: a + 1]):
            v = (
                at([(na, ja, eps), (nb, jb, eps)])
                - at([(na, ja, eps), (nb, jb, -eps)])
                - at([(na, ja, -eps), (nb, jb, eps)])
                + at([(na, ja, -eps), (nb, jb, -eps)])
            ) / (4 * eps * eps)
            h[a, b] = h[b, a] = v
    return h


def flat(d, names):
    return np.concatenate([d[n].reshape(-1) for n in names])


def test_hessian_gradient_product_against_a_finite_difference_hessian():
    model = tiny(hidden=(4,), n_in=3, n_out=3)
    x, y = batch()
    names = kernels(model)
    for t in (1.0, 3.0):
        g, hg = hessian_gradient_product(model, x, y, temperature=t)
        h = naive_hessian(model, x, y, names, t)
        want = h @ flat(g, names)
        np.testing.assert_allclose(flat(hg, names), want, rtol=1e-4, atol=1e-7)


def test_hessian_gradient_product_against_torch_double_backward():
    torch = pytest.importorskip("torch")
    model = tiny()
    x, y = batch()
    names = kernels(model)
    live = model.weights()
    params = {n: torch.tensor(a, requires_grad=n in names) for n, a in live.items()}

    def loss():
        h = torch.tensor(x)
        layers = [layer for layer in model.layers if layer.kind == "dense"]
        for i, layer in enumerate(layers):
            h = h @ params[f"{layer.name}/kernel"] + params[f"{layer.name}/bias"]
            if i < len(layers) - 1:
                h = torch.tanh(h)
        return torch.nn.functional.cross_entropy(h / 5.0, torch.tensor(y))

    ws = [params[n] for n in names]
    grads = torch.autograd.grad(loss(), ws, create_graph=True)
    z = sum((gi.detach() * gi).sum() for gi in grads)
    hg_torch = torch.autograd.grad(z, ws)
    g, hg = hessian_gradient_product(model, x, y, temperature=5.0)
    for n, gi, hgi in zip(names, grads, hg_torch, strict=True):
        np.testing.assert_allclose(g[n], gi.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(hg[n], hgi.numpy(), rtol=1e-5, atol=1e-9)


def test_grasp_scores_and_masks_against_the_naive_hessian():
    model = tiny(hidden=(4,), n_in=3, n_out=3)
    x, y = batch()
    names = kernels(model)
    h = naive_hessian(model, x, y, names, 200.0)
    g = flat(loss_gradients(model, x, y, temperature=200.0), names)
    theta = flat(model.weights(), names)
    want = -theta * (h @ g)
    got = grasp_scores(model, x, y, temperature=200.0)
    np.testing.assert_allclose(flat(got, names), want, rtol=1e-4, atol=1e-9)
    masks = grasp_masks(model, x, y, 0.5)
    kept = flat(masks, names)
    assert kept.sum() == keep_count(want.size, 0.5)
    # removed: the highest S; every kept score is below every removed one
    assert want[kept].max() <= want[~kept].min() + 1e-9


def positive_flow(model):
    """SynFlow's score by its closed form for a bias-free ReLU MLP."""
    ws = [np.abs(model.weights()[n]) for n in kernels(model)]
    out = {}
    for i, (name, w) in enumerate(zip(kernels(model), ws, strict=True)):
        left = np.ones((1, ws[0].shape[0]))
        for a in ws[:i]:
            left = left @ a  # paths from every input into layer i
        right = np.ones((ws[-1].shape[1], 1))
        for a in reversed(ws[i + 1 :]):
            right = a @ right  # paths from layer i's outputs to every output
        out[name] = left.reshape(-1, 1) * w * right.reshape(1, -1)
    return out


def test_synflow_scores_are_the_path_products():
    model = tiny(act=sc.ReLU, hidden=(6, 5), n_in=4, n_out=3)
    for layer in model.layers:  # bias-free, as the closed form assumes
        if "bias" in layer.params:
            layer.params["bias"][...] = 0
    scores = synflow_scores(model)
    want = positive_flow(model)
    for n in want:
        np.testing.assert_allclose(scores[n], want[n], rtol=1e-12)
    # conservation: every layer's total score is the same flow R
    totals = [s.sum() for s in scores.values()]
    np.testing.assert_allclose(totals, totals[0], rtol=1e-12)


def test_synflow_takes_no_data_and_is_blind_to_the_input_scale():
    params = inspect.signature(synflow_masks).parameters
    assert not {"x", "y", "data"} & set(params)
    model = sc.Sequential(
        [sc.Dense(16), sc.ReLU(), sc.Dense(16), sc.ReLU(), sc.Dense(3)],
        input_dim=6,
        seed=3,
    )
    masks = synflow_masks(model, 0.9, iterations=20)
    # biases are 0 at initialization, so scaling the input by c is scaling the
    # first kernel by c: every path's flow scales by c, and no ranking changes
    scaled = sc.Sequential.from_config(model.get_config())
    scaled.set_weights(model.get_weights())
    scaled.weights()["dense_0/kernel"][...] *= 37.0
    again = synflow_masks(scaled, 0.9, iterations=20)
    for n in masks:
        np.testing.assert_array_equal(masks[n], again[n])


@given(st.sampled_from([0.5, 0.8, 0.9, 0.97]), st.sampled_from(["global", "uniform"]))
def test_exact_sparsity(sparsity, scope):
    model = tiny(act=sc.ReLU, dtype="float32", hidden=(7, 6))
    x, y = batch()
    sizes = {n: model.weights()[n].size for n in kernels(model)}
    for masks in (
        snip_masks(model, x, y, sparsity, scope),
        grasp_masks(model, x, y, sparsity, scope),
        synflow_masks(model, sparsity, iterations=5, scope=scope),
    ):
        if scope == "global":
            assert sum(m.sum() for m in masks.values()) == keep_count(
                sum(sizes.values()), sparsity
            )
        else:
            assert {n: m.sum() for n, m in masks.items()} == {
                n: keep_count(s, sparsity) for n, s in sizes.items()
            }


def test_synflow_one_iteration_is_one_shot_and_more_iterations_prune_by_flow():
    model = tiny(act=sc.ReLU, dtype="float32", hidden=(9, 8))
    once = synflow_masks(model, 0.8, iterations=1)
    ref = allocate_masks(synflow_scores(model), 0.8, "global")
    for n in once:
        np.testing.assert_array_equal(once[n], ref[n])
    # a second round ranks again among the survivors of the first
    two = synflow_masks(model, 0.8, iterations=2)
    first = allocate_masks(synflow_scores(model), 1 - 0.2**0.5, "global")
    again = allocate_masks(
        synflow_scores(model, first), 0.8, "global", prev_masks=first
    )
    for n in two:
        np.testing.assert_array_equal(two[n], again[n])


def test_snip_collapses_a_layer_where_synflow_keeps_a_path():
    model = sc.Sequential(
        [sc.Dense(100), sc.ReLU(), sc.Dense(100), sc.ReLU(), sc.Dense(4)],
        input_dim=8,
        seed=1,
    )
    model.compile(sc.SparseCategoricalCrossentropy(from_logits=True), "adam")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 8)).astype(np.float32)
    y = rng.integers(0, 4, 64)
    snip = snip_masks(model, x, y, 0.995)
    flow = synflow_masks(model, 0.995)
    assert layer_collapse(snip)
    assert snip["dense_1/kernel"].sum() == 0  # the whole middle layer pruned
    assert not layer_collapse(flow)
    assert all(m.any() for m in flow.values())


def naive_connected(masks):
    """Inputs with a path: the integer path counts of the chained masks."""
    prod = None
    for m in masks.values():
        m = m.astype(np.int64)
        prod = m if prod is None else np.minimum(prod @ m, 1)
    return prod.sum(axis=1) > 0


@given(st.integers(0, 2**32 - 1), st.floats(0.3, 0.95))
def test_connected_inputs_against_path_counts(seed, density):
    rng = np.random.default_rng(seed)
    masks = {
        "a": rng.random((5, 6)) < density,
        "b": rng.random((6, 4)) < density,
        "c": rng.random((4, 3)) < density,
    }
    np.testing.assert_array_equal(connected_inputs(masks), naive_connected(masks))
    assert layer_collapse(masks) == (not naive_connected(masks).any())


def test_the_model_is_not_modified():
    model = tiny(act=sc.ReLU, dtype="float32")
    x, y = batch()
    model.fit(x.astype(np.float32), y, epochs=1, batch_size=4, verbose=0)
    before = model.get_weights()
    state = {
        n: {k: a.copy() for k, a in s.items()} for n, s in model.optimizer.state.items()
    }
    snip_masks(model, x, y, 0.5)
    grasp_masks(model, x, y, 0.5)
    synflow_masks(model, 0.5, iterations=3)
    loss_gradients(model, x, y)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for n, s in state.items():
        for k, a in s.items():
            np.testing.assert_array_equal(a, model.optimizer.state[n][k])


def test_validation():
    model = tiny()
    x, y = batch()
    with pytest.raises(ValueError, match="sparsity must be a float in"):
        snip_masks(model, x, y, 1.0)
    with pytest.raises(ValueError, match="iterations must be an int in"):
        synflow_masks(model, 0.5, iterations=0)
    with pytest.raises(ValueError, match="x must have shape"):
        snip_masks(model, x[:, :2], y, 0.5)
    with pytest.raises(ValueError, match="biases are never pruned"):
        snip_masks(model, x, y, 0.5, weights=["dense_0/bias"])
    with pytest.raises(ValueError, match="weights must name weights"):
        grasp_masks(model, x, y, 0.5, weights=["nope"])
    with pytest.raises(ValueError, match="temperature must be a float in"):
        grasp_masks(model, x, y, 0.5, temperature=0.0)
    uncompiled = sc.Sequential([sc.Dense(2)], input_dim=3)
    with pytest.raises(RuntimeError, match="compiled"):
        snip_masks(uncompiled, x, y, 0.5)
    synflow_masks(uncompiled, 0.5, iterations=2)  # needs no loss
    with pytest.raises(ValueError, match="chain"):
        layer_collapse({"a": np.ones((2, 3), bool), "b": np.ones((2, 3), bool)})
