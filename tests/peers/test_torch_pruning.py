"""PyTorch's own pruning tests (test/nn/test_pruning.py), translated, and
cross-checks against the real ``torch.nn.utils.prune`` on the same arrays.

Source: pytorch/pytorch, test/nn/test_pruning.py (TestPruningNN). torch's
``prune.<method>(module, name, ...)`` is a sparsecore mask function (or an
:class:`~sparsecore.prune.ArrayPruner`) on the module's tensor; pruning a
pruned tensor again (torch's ``PruningContainer``) is ``prev_mask=...,
of_remaining=True``. Adaptations (docs/semantics.md):

- torch re-parametrises the module (``weight_orig`` parameter, ``weight_mask``
  buffer, a forward pre-hook); sparsecore keeps no ``_orig`` copy and zeroes the
  tensor itself in place: tests of the hook and of the ``_orig``/``_mask``
  names check the pruned values and masks instead;
- torch pickles modules; sparsecore never pickles (a pruner's state is a JSON
  config and bool arrays);
- ``PruningContainer``'s own API (its length, method types) has no
  counterpart; ``test_rnn_pruning`` (LSTM flat weights) does not apply.

The cross-check tests need torch (skipped without it).
"""

import math

import numpy as np
import pytest

import sparsecore as sc
from sparsecore.prune import (
    ArrayPruner,
    global_magnitude_masks,
    magnitude_mask,
    prune_count,
    random_mask,
    random_structured_mask,
    structured_mask,
)
from sparsecore.prune.criteria import validate_amount

T = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], dtype=np.float32)
DEFAULT = np.array([[1, 1, 1, 0], [1, 1, 0, 1]], dtype=bool)


# torch: TestPruningNN.test_validate_pruning_amount_init
def test_validate_pruning_amount_init():
    with pytest.raises(TypeError):
        validate_amount("I'm a string")
    for bad in (1.1, 20.0, -10):
        with pytest.raises(ValueError):
            validate_amount(bad)
    for good in (0.34, 1500, 0, 0.0, 1, 1.0):
        validate_amount(good)


# torch: TestPruningNN.test_validate_pruning_amount
def test_validate_pruning_amount():
    with pytest.raises(ValueError):
        prune_count(19, 20)
    prune_count(0, 0.3)
    prune_count(20, 19)
    prune_count(0, 0)
    prune_count(1, 1)


# torch: TestPruningNN.test_compute_nparams_to_prune
def test_compute_nparams_to_prune():
    assert prune_count(15, 0) == 0
    assert prune_count(15, 10) == 10
    assert prune_count(15, 1) == 1  # if 1 is int, means 1 unit
    assert prune_count(15, 1.0) == 15  # if 1. is float, means 100% of units
    assert prune_count(17, 0.4) == 7


SHAPES = {"linear.weight": (7, 5), "linear.bias": (7,),
          "conv3d.weight": (2, 2, 2, 2, 2), "conv3d.bias": (2,)}  # fmt: skip


# torch: TestPruningNN.test_random_pruning_sizes
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_random_pruning_sizes(name):
    w = np.random.default_rng(0).standard_normal(SHAPES[name])
    mask = random_mask(w, rng=np.random.default_rng(1), amount=0.1)
    assert mask.shape == w.shape


# torch: TestPruningNN.test_random_pruning_orig and test_random_pruning_new_weight
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_random_pruning_new_weight(name):
    w = np.random.default_rng(0).standard_normal(SHAPES[name])
    original = w.copy()
    eng = ArrayPruner(
        sc.ConstantSparsity(0.1, 1, frequency=1), criterion="random", seed=0,
        names=[name], prune_biases=True,
    )  # fmt: skip
    masks = eng.step({name: w})
    # weight = weight_orig * weight_mask (sparsecore keeps no weight_orig: the
    # original is the test's copy)
    assert np.array_equal(w, original * masks[name])


def torch_linear(seed=0, n_in=5, n_out=2):
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    return torch, torch.nn.Linear(n_in, n_out)


# torch: TestPruningNN.test_identity_pruning and test_random_pruning_0perc
@pytest.mark.parametrize("how", ["identity", "0perc"])
def test_identity_pruning(how):
    torch, m = torch_linear()
    input_ = torch.ones(1, 5)
    y_prepruning = m(input_)
    y_prepruning.sum().backward()
    old_grad_weight = m.weight.grad.clone()
    assert torch.equal(old_grad_weight, torch.ones_like(m.weight))
    old_grad_bias = m.bias.grad.clone()
    m.zero_grad()
    params = dict(m.named_parameters())
    if how == "identity":  # a mask of 1s
        eng = ArrayPruner(masks={"weight": np.ones((2, 5), dtype=bool)})
    else:  # amount 0
        eng = ArrayPruner(sc.ConstantSparsity(0.0, 1, frequency=1))
    eng.step(params)
    y_postpruning = m(input_)
    assert torch.equal(y_prepruning, y_postpruning)
    y_postpruning.sum().backward()
    eng.zero_pruned({n: p.grad for n, p in params.items()})
    assert torch.equal(old_grad_weight, m.weight.grad)
    assert torch.equal(old_grad_bias, m.bias.grad)
    assert torch.equal(m(input_), m(input_))


# torch: TestPruningNN.test_random_pruning (a custom mask, in place of the mock)
def test_random_pruning():
    torch, m = torch_linear()
    input_ = torch.ones(1, 5)
    mask = np.ones((2, 5), dtype=bool)
    mask[1, 0] = mask[0, 3] = False
    params = dict(m.named_parameters())
    eng = ArrayPruner(masks={"weight": mask})
    eng.step(params)
    m(input_).sum().backward()
    eng.zero_pruned({"weight": m.weight.grad})  # strict: before the optimizer
    assert np.array_equal(m.weight.grad.numpy(), mask)  # all 1s, except masked
    assert torch.equal(m.bias.grad, torch.ones_like(m.bias))
    with torch.no_grad():
        for p in m.parameters():
            p.sub_(p.grad * 1.0)
    eng.step(params)
    # since these are pruned, they are not updated (and, here, exactly 0)
    assert m.weight[1, 0].item() == 0 and m.weight[0, 3].item() == 0


# torch: TestPruningNN.test_random_pruning_forward
def test_random_pruning_forward():
    torch, m = torch_linear()
    mask = np.zeros((2, 5), dtype=bool)
    mask[1, 0] = mask[0, 3] = True
    original = m.weight.detach().clone()
    ArrayPruner(masks={"weight": mask}).step(dict(m.named_parameters()))
    yhat = m(torch.ones(1, 5))
    assert torch.allclose(yhat[0, 0], original[0, 3] + m.bias[0])
    assert torch.allclose(yhat[0, 1], original[1, 0] + m.bias[1])


# torch: TestPruningNN.test_remove_pruning_forward and test_pruning_id_consistency
def test_remove_pruning_forward_and_id_consistency():
    torch, m = torch_linear()
    tensor_id, pointer = id(m.weight), m.weight.data_ptr()
    mask = np.ones((2, 5), dtype=bool)
    mask[1, 0] = mask[0, 3] = False
    params = dict(m.named_parameters())
    eng = ArrayPruner(masks={"weight": mask})
    eng.step(params)
    y_postpruning = m(torch.ones(1, 5))
    assert id(m.weight) == tensor_id and m.weight.data_ptr() == pointer
    eng.remove(params, "weight")
    assert torch.equal(y_postpruning, m(torch.ones(1, 5)))
    assert id(m.weight) == tensor_id and m.weight.data_ptr() == pointer


# torch: TestPruningNN.test_random_pruning_pickle (adapted: no pickle; the state
# is JSON and bool arrays)
def test_pruning_state_round_trip_without_pickle():
    import json

    w = {"weight": np.random.default_rng(0).standard_normal((7, 5))}
    eng = ArrayPruner(sc.ConstantSparsity(0.1, 1), criterion="random", seed=1)
    eng.step(w)
    state = eng.state_dict()
    back = ArrayPruner.from_state_dict(
        {**json.loads(json.dumps({k: v for k, v in state.items() if k != "masks"})),
         "masks": state["masks"]}
    )  # fmt: skip
    assert isinstance(back, ArrayPruner)
    assert np.array_equal(back.masks["weight"], eng.masks["weight"])


# torch: TestPruningNN.test_multiple_pruning_calls
def test_multiple_pruning_calls():
    w = np.random.default_rng(0).standard_normal((2, 2, 2, 2, 2))  # Conv3d(2, 2, 2)
    mask0 = magnitude_mask(w, amount=0.1)
    # torch ranks the module's current tensor: the weights as pruned so far
    mask1 = structured_mask(w * mask0, amount=0.3, norm=2, axis=0, prev_mask=mask0,
                            of_remaining=True)  # fmt: skip
    # all entries that are 0 in the 1st mask are 0 in the 2nd mask too
    assert not np.any(mask1[~mask0])
    mask2 = structured_mask(w * mask1, amount=0.1, norm=math.inf, axis=1,
                            prev_mask=mask1, of_remaining=True)  # fmt: skip
    assert not np.any(mask2[~mask1])


# torch: TestPruningNN.test_pruning_container_compute_mask (and test_prune)
def test_pruning_container_compute_mask():
    # 1) unstructured: the two lowest magnitude units of what remains
    got = magnitude_mask(T, amount=2, prev_mask=DEFAULT, of_remaining=True)
    assert got.astype(int).tolist() == [[0, 0, 1, 0], [1, 1, 0, 1]]
    assert np.array_equal(T * got, T * np.array([[0, 0, 1, 0], [1, 1, 0, 1]]))
    # 2) structured: the lowest-norm one of the two rows
    got = structured_mask(T, amount=1, norm=2, axis=0, prev_mask=DEFAULT,
                          of_remaining=True)  # fmt: skip
    assert got.astype(int).tolist() == [[0, 0, 0, 0], [1, 1, 0, 1]]
    # 3) structured, along another axis: the lowest-norm of the four columns
    got = structured_mask(T, amount=1, norm=2, axis=1, prev_mask=DEFAULT,
                          of_remaining=True)  # fmt: skip
    assert got.astype(int).tolist() == [[0, 1, 1, 0], [0, 1, 0, 1]]


# torch: TestPruningNN.test_l1_unstructured_pruning
def test_l1_unstructured_pruning():
    w = np.array([[1, 2, 3, 4], [-4, -3, -2, -1]], dtype=np.float32)
    m1 = magnitude_mask(w, amount=2)
    assert (w * m1).tolist() == [[0, 2, 3, 4], [-4, -3, -2, 0]]
    # pruning again removes the next two smallest entries
    m2 = magnitude_mask(w, amount=2, prev_mask=m1, of_remaining=True)
    assert (w * m2).tolist() == [[0, 0, 3, 4], [-4, -3, 0, 0]]


# torch: TestPruningNN.test_l1_unstructured_pruning_with_importance_scores
def test_l1_unstructured_pruning_with_importance_scores():
    w = np.array([[1, 2, 3, 4], [-4, -3, -2, -1]], dtype=np.float32)
    scores = np.array([[4, 2, 1, 3], [-3, -1, -2, -4]], dtype=np.float32)
    m1 = magnitude_mask(w, amount=2, scores=scores)
    assert (w * m1).tolist() == [[1, 2, 0, 4], [-4, 0, -2, -1]]
    m2 = magnitude_mask(w, amount=2, scores=scores, prev_mask=m1, of_remaining=True)
    assert (w * m2).tolist() == [[1, 0, 0, 4], [-4, 0, 0, -1]]


# torch: TestPruningNN.test_unstructured_pruning_same_magnitude
def test_unstructured_pruning_same_magnitude():
    t = 2 * np.random.default_rng(0).integers(-1, 2, size=(10, 7))  # {-2, 0, 2}
    mask = magnitude_mask(t, amount=0.2)
    assert np.count_nonzero(~mask) == prune_count(t.size, 0.2)


# torch: TestPruningNN.test_random_structured_pruning_amount
def test_random_structured_pruning_amount():
    rng = np.random.default_rng(0)
    t = 2 * rng.integers(-1, 2, size=(5, 4, 2)).astype(np.float32)
    mask = random_structured_mask(t, rng=rng, amount=0.6, axis=2)
    per_column = sorted((mask == 0).sum(axis=(0, 1)).tolist())
    assert per_column == [0, 20]


CONV = np.array(
    [[[[1.0, 2.0], [1.0, 2.5]], [[0.5, 1.0], [0.1, 0.1]], [[-3.0, -5.0], [0.1, -1.0]]]]
)  # Conv2d(3, 1, 2).weight


# torch: TestPruningNN.test_ln_structured_pruning
def test_ln_structured_pruning():
    expected_axis1 = np.ones(CONV.shape, dtype=bool)
    expected_axis1[:, 1] = False
    m1 = structured_mask(CONV, amount=1, norm=2, axis=1)
    assert np.array_equal(m1, expected_axis1)
    expected_axis3 = expected_axis1.copy()
    expected_axis3[:, :, :, 0] = False
    m2 = structured_mask(CONV * m1, amount=1, norm=1, axis=-1, prev_mask=m1,
                         of_remaining=True)  # fmt: skip
    assert np.array_equal(m2, expected_axis3)


# torch: TestPruningNN.test_ln_structured_pruning_importance_scores
def test_ln_structured_pruning_importance_scores():
    scores = np.array(
        [[[[10.0, 1.0], [10.0, 1.0]], [[30.0, 3.0], [30.0, 3.0]],
          [[-20.0, -2.0], [-20.0, -2.0]]]]
    )  # fmt: skip
    expected_axis1 = np.ones(CONV.shape, dtype=bool)
    expected_axis1[:, 0] = False
    m1 = structured_mask(CONV, amount=1, norm=2, axis=1, scores=scores)
    assert np.array_equal(m1, expected_axis1)
    expected_axis3 = expected_axis1.copy()
    expected_axis3[:, :, :, 1] = False
    m2 = structured_mask(CONV, amount=1, norm=1, axis=-1, scores=scores,
                         prev_mask=m1, of_remaining=True)  # fmt: skip
    assert np.array_equal(m2, expected_axis3)


def pruned_model(seed=0):
    model = sc.Sequential([sc.Dense(7), sc.ReLU(), sc.Dense(5)], input_dim=5, seed=seed)
    model.compile("mse", "sgd")
    pruner = sc.Pruner(sc.ConstantSparsity(0.5, 1, frequency=1), criterion="random",
                       seed=0)  # fmt: skip
    rng = np.random.default_rng(seed)
    model.fit(rng.random((8, 5)), rng.random((8, 5)), callbacks=[pruner], verbose=0)
    return model, pruner


# torch: TestPruningNN.test_remove_pruning
def test_remove_pruning():
    model, pruner = pruned_model()
    name = "dense_0/kernel"
    pruned_t = model.weights()[name].copy()
    sc.prune.remove(model, name)
    assert name not in pruner.masks  # no mask any more ...
    final_t = model.weights()[name]
    assert np.array_equal(pruned_t, final_t)  # ... and the values pruned
    assert type(final_t) is np.ndarray  # a plain array (torch: a Parameter)


# torch: TestPruningNN.test_remove_pruning_exception
def test_remove_pruning_exception():
    model = sc.Sequential([sc.Dense(7)], input_dim=5, seed=0)
    assert not sc.prune.is_pruned(model)
    with pytest.raises(ValueError):
        sc.prune.remove(model, "dense_0/kernel")
    eng = ArrayPruner(sc.ConstantSparsity(0.5, 1))
    with pytest.raises(ValueError):
        eng.remove(None, "weight")


# torch: TestPruningNN.test_global_pruning
def test_global_pruning():
    m = np.array([[1, 2, 3, 4], [-4, -3, -2, -1]], dtype=np.float32)
    n = np.array([[0, 0.1, -2]], dtype=np.float32)
    masks = global_magnitude_masks({"m": m, "n": n}, amount=4)
    assert (m * masks["m"]).tolist() == [[0, 2, 3, 4], [-4, -3, -2, 0]]
    assert (n * masks["n"]).tolist() == [[0, 0, -2]]


# torch: TestPruningNN.test_global_pruning_importance_scores
def test_global_pruning_importance_scores():
    m = np.array([[1, 2, 3, 4], [-4, -3, -2, -1]], dtype=np.float32)
    m_scores = np.array([[4, 2, 1, 3], [-3, -1, -2, -4]], dtype=np.float32)
    n = np.array([[0, 0.1, -2]], dtype=np.float32)
    n_scores = np.array([[0, 10.0, -0.2]], dtype=np.float32)
    masks = global_magnitude_masks(
        {"m": m, "n": n}, amount=4, scores={"m": m_scores, "n": n_scores}
    )
    assert (m * masks["m"]).tolist() == [[1, 2, 0, 4], [-4, 0, -2, -1]]
    assert np.allclose(n * masks["n"], [[0, 0.1, 0]])


# torch: TestPruningNN.test_custom_from_mask_pruning
def test_custom_from_mask_pruning():
    mask = np.array([[0, 1, 1, 0], [0, 0, 1, 1]])
    default_mask = np.array([[0, 0, 0, 0], [1, 1, 1, 1]])
    t = np.random.default_rng(0).random((2, 4)) * default_mask  # already pruned
    eng = ArrayPruner(masks={"t": mask})  # 0/1 numbers, as torch's masks
    eng.step({"t": t})
    assert (t != 0).astype(int).tolist() == [[0, 0, 0, 0], [0, 0, 1, 1]]


# torch: TestPruningNN.test_pruning_rollback
def test_pruning_rollback():
    w = {"w": np.random.default_rng(0).standard_normal((7, 5))}
    original = w["w"].copy()
    eng = ArrayPruner(sc.ConstantSparsity(0.9, 1, frequency=1))
    with pytest.raises(ValueError):  # the mask computation fails
        eng.step(w, scores={"w": np.ones((3, 3))})
    # nothing is left half-pruned: step, masks and weights as before
    assert eng.pruning_step == 0 and eng.masks["w"].all()
    assert np.array_equal(w["w"], original)


# torch: TestPruningNN.test_pruning_serialization_model (adapted: a checkpoint,
# not a pickle, keeps the pruned weights and the masks)
def test_pruning_serialization_model(tmp_path):
    model, pruner = pruned_model()
    model.save(tmp_path / "m.npz")
    back = sc.load_model(tmp_path / "m.npz")
    assert sc.prune.is_pruned(back)
    for name, m in pruner.masks.items():
        assert np.array_equal(back.pruner.masks[name], m)
        assert np.array_equal(back.weights()[name], model.weights()[name])


# torch: TestPruningNN.test_pruning_serialization_state_dict
def test_pruning_serialization_state_dict(tmp_path):
    model, _ = pruned_model()
    pruned = {n: w.copy() for n, w in model.weights().items()}
    sc.strip_pruning(model)  # make pruning permanent
    model.save(tmp_path / "m.npz")
    back = sc.load_model(tmp_path / "m.npz")
    assert not sc.prune.is_pruned(back)
    for name, w in pruned.items():
        assert np.array_equal(back.weights()[name], w)


# torch: TestPruningNN.test_prune and test_prune_importance_scores and
# test_prune_importance_scores_mimic_default
def test_prune_importance_scores():
    scores = np.array([[1, 2, 3, 4], [1.5, 1.6, 1.7, 1.8]], dtype=np.float32)
    got = magnitude_mask(T, amount=2, scores=scores, prev_mask=DEFAULT,
                         of_remaining=True)  # fmt: skip
    assert got.astype(int).tolist() == [[0, 1, 1, 0], [0, 1, 0, 1]]
    without = magnitude_mask(T, amount=2, prev_mask=DEFAULT, of_remaining=True)
    mimic = magnitude_mask(T, amount=2, scores=T, prev_mask=DEFAULT, of_remaining=True)
    assert np.array_equal(without, mimic)
    assert without.astype(int).tolist() == [[0, 0, 1, 0], [1, 1, 0, 1]]


# ----------------------------------------------------------------------- real torch
torch = pytest.importorskip("torch")
prune = pytest.importorskip("torch.nn.utils.prune")


class Holder(torch.nn.Module):
    """A module holding one tensor as a parameter, for torch.nn.utils.prune."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(torch.from_numpy(np.array(w, dtype=np.float32)))

    def mask(self):
        return self.w_mask.detach().numpy().astype(bool)


def distinct(shape, seed):
    """float32 normal draws: no ties, in magnitudes or in channel norms (torch's
    topk breaks ties in no documented order). Both sides see the same float32."""
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


AMOUNTS = [0.0, 0.3, 0.5, 0.99, 1.0, 0, 1, 7]


@pytest.mark.parametrize("amount", AMOUNTS)
@pytest.mark.parametrize("shape", [(9,), (6, 7), (3, 4, 5)])
def test_l1_unstructured_matches_torch_iteratively(amount, shape):
    w = distinct(shape, seed=len(shape))
    h = Holder(w)
    prev = None
    for _ in range(3):  # prune, prune again, again: PruningContainer each time
        remaining = w.size if prev is None else int(prev.sum())
        if isinstance(amount, int) and amount > remaining:
            break
        prune.l1_unstructured(h, "w", amount=amount)
        ours = magnitude_mask(w, amount=amount, prev_mask=prev, of_remaining=True)
        assert np.array_equal(ours, h.mask())
        prev = ours


@pytest.mark.parametrize("n", [1, 2, 3, math.inf])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("amount", [0.25, 0.5, 1])
def test_ln_structured_matches_torch_after_unstructured(n, dim, amount):
    w = distinct((6, 8, 3), seed=7)
    h = Holder(w)
    prune.l1_unstructured(h, "w", amount=0.3)
    first = magnitude_mask(w, amount=0.3)
    assert np.array_equal(first, h.mask())
    prune.ln_structured(h, "w", amount=amount, n=n, dim=dim)
    # torch ranks the module's current tensor (w * mask) over the channels not
    # yet entirely pruned; structured_mask ranks what it is given
    ours = structured_mask(w * first, amount=amount, norm=n, axis=dim,
                           prev_mask=first, of_remaining=True)  # fmt: skip
    assert np.array_equal(ours, h.mask())


@pytest.mark.parametrize("seed", range(4))
def test_global_unstructured_matches_torch_with_previous_masks(seed):
    a, b = distinct((5, 6), seed), distinct((4, 3), seed + 10)
    ha, hb = Holder(a), Holder(b)
    prune.l1_unstructured(ha, "w", amount=0.2)  # a has a mask already
    params = ((ha, "w"), (hb, "w"))
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=0.4)
    prev = {"a": magnitude_mask(a, amount=0.2), "b": np.ones(b.shape, dtype=bool)}
    ours = global_magnitude_masks({"a": a, "b": b}, amount=0.4, prev_masks=prev,
                                  of_remaining=True)  # fmt: skip
    assert np.array_equal(ours["a"], ha.mask())
    assert np.array_equal(ours["b"], hb.mask())


def test_importance_scores_match_torch():
    w, s = distinct((6, 5), 1), distinct((6, 5), 2)
    h = Holder(w)
    prune.l1_unstructured(
        h, "w", amount=11, importance_scores=torch.from_numpy(s).float()
    )
    assert np.array_equal(magnitude_mask(w, amount=11, scores=s), h.mask())
    h2 = Holder(w)
    prune.ln_structured(h2, "w", amount=2, n=2, dim=1,
                        importance_scores=torch.from_numpy(s).float())  # fmt: skip
    assert np.array_equal(structured_mask(w, amount=2, norm=2, axis=1, scores=s),
                          h2.mask())  # fmt: skip


def test_random_methods_match_torch_counts():
    w = distinct((8, 6), 3)
    h = Holder(w)
    prune.random_unstructured(h, "w", amount=0.3)
    ours = random_mask(w, rng=np.random.default_rng(0), amount=0.3)
    assert ours.sum() == h.mask().sum()
    prune.random_structured(h, "w", amount=2, dim=1)  # nested in torch's container
    again = random_structured_mask(w, rng=np.random.default_rng(1), amount=2, axis=1,
                                   prev_mask=ours, of_remaining=True)  # fmt: skip
    assert np.all(again <= ours)
    theirs = h.mask()
    assert (~theirs.any(axis=0)).sum() >= 2 and (~again.any(axis=0)).sum() >= 2


def test_custom_from_mask_matches_torch():
    w, rng = distinct((4, 5), 4), np.random.default_rng(5)
    mask = rng.random((4, 5)) < 0.5
    h = Holder(w)
    prune.l1_unstructured(h, "w", amount=0.25)
    prune.custom_from_mask(h, "w", mask=torch.from_numpy(mask))
    first = magnitude_mask(w, amount=0.25)
    x = {"w": w * first}  # the tensor as pruned by the first pass
    ArrayPruner(masks={"w": mask}).step(x)
    assert np.array_equal(x["w"] != 0, h.mask())


def test_empty_tensor_matches_torch():
    h = Holder(np.zeros((0, 3)))
    prune.l1_unstructured(h, "w", amount=0.5)
    assert h.mask().shape == (0, 3)
    assert np.array_equal(magnitude_mask(np.zeros((0, 3)), amount=0.5), h.mask())
    with pytest.raises(ValueError):
        prune.l1_unstructured(Holder(np.zeros((0, 3))), "w", amount=1)
    with pytest.raises(ValueError):
        magnitude_mask(np.zeros((0, 3)), amount=1)
