"""ArrayPruner: the engine in any loop (NumPy, PyTorch in place, functional).

The torch tests drive a real PyTorch training loop (torch is a test partner
only: they skip without it).
"""

import importlib.util
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sparsecore as sc
from sparsecore.prune import (
    ArrayPruner,
    ConstantSparsity,
    PolynomialDecay,
    Pruner,
    keep_count,
    magnitude_mask,
)
from sparsecore.prune.pruner import as_array_view

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "torch_prune.py"


def arrays(seed=0, shapes=((12, 16), (16, 16), (16, 1))):
    rng = np.random.default_rng(seed)
    out = {}
    for i, shape in enumerate(shapes):
        out[f"{i}.weight"] = rng.standard_normal(shape[::-1]).astype(np.float32)
        out[f"{i}.bias"] = rng.standard_normal(shape[1]).astype(np.float32)
    return out


# ----------------------------------------------------------------------- NumPy
def test_step_follows_the_schedule_in_place_and_nested():
    params = arrays()
    schedule = PolynomialDecay(0.0, 0.8, begin_step=5, end_step=45, frequency=10)
    eng = ArrayPruner(schedule)
    rng = np.random.default_rng(1)
    history = []
    for t in range(1, 61):
        for a in params.values():  # an "optimizer step"
            a += 0.01 * rng.standard_normal(a.shape).astype(a.dtype)
        masks = eng.step(params)
        assert eng.pruning_step == t
        assert list(masks) == ["0.weight", "1.weight", "2.weight"]  # rank >= 2 only
        for name, m in masks.items():
            assert np.all(params[name][~m] == 0)  # zeroed in place
        history.append(masks)
        should, s = schedule(t)
        if should:
            for m in masks.values():
                assert np.count_nonzero(m) == keep_count(m.size, s)
    for old, new in zip(history, history[1:], strict=False):
        assert all(not np.any(new[n] & ~old[n]) for n in old)  # nested
    for m in history[-1].values():  # exactly the schedule's final sparsity
        assert np.count_nonzero(m) == keep_count(m.size, 0.8)
    assert eng.sparsity == pytest.approx(0.8, abs=0.01)
    assert all(np.count_nonzero(params[f"{i}.bias"]) == params[f"{i}.bias"].size
               for i in range(3))  # fmt: skip


def test_grads_and_zero_pruned_and_mask():
    params, grads = arrays(0), arrays(1)
    eng = ArrayPruner(ConstantSparsity(0.5, begin_step=1, frequency=1))
    masks = eng.step(params, grads)
    for name, m in masks.items():
        assert np.all(grads[name][~m] == 0) and np.all(grads[name][m] != 0)
    moments = arrays(2)
    eng.zero_pruned(moments)  # e.g. an optimizer's state
    assert all(np.all(moments[n][~m] == 0) for n, m in masks.items())
    fresh = arrays(3)
    out = eng.mask(fresh)
    assert eng.pruning_step == 1  # mask and zero_pruned do not advance
    for name, m in masks.items():
        assert np.array_equal(out[name], np.where(m, fresh[name], 0))
        assert np.count_nonzero(fresh[name]) == fresh[name].size  # untouched
    assert out["0.bias"] is fresh["0.bias"]
    eng.step(params, {**grads, "0.weight": None})  # torch: a grad may be None


def test_apply_is_the_functional_step():
    a, b = arrays(), arrays()
    frozen = {n: v.copy() for n, v in b.items()}
    for v in frozen.values():
        v.flags.writeable = False  # as a JAX array: read-only
    schedule = PolynomialDecay(0.1, 0.9, begin_step=1, end_step=9, frequency=2)
    inplace, functional = ArrayPruner(schedule), ArrayPruner(schedule)
    with pytest.raises(TypeError, match=r"read-only .* use ArrayPruner.apply"):
        ArrayPruner(schedule).step(frozen)
    current = frozen
    for _ in range(10):
        masks = inplace.step(a)
        current = functional.apply(current)
        assert all(np.array_equal(functional.masks[n], m) for n, m in masks.items())
        for name in a:
            assert np.array_equal(current[name], a[name])
    assert all(not v.flags.writeable for v in frozen.values())  # never modified
    assert np.count_nonzero(frozen["0.weight"]) == frozen["0.weight"].size


def test_scores_are_ranked_instead_of_the_weights():
    params = arrays()
    scores = {n: np.abs(v) + 10 * np.arange(v.size).reshape(v.shape)
              for n, v in params.items() if v.ndim == 2}  # fmt: skip
    eng = ArrayPruner(ConstantSparsity(0.5, begin_step=1, frequency=1))
    masks = eng.step(params, scores=scores)
    for name, m in masks.items():
        assert np.array_equal(
            m, magnitude_mask(params[name] + 1, 0.5, scores=scores[name])
        )
    with pytest.raises(ValueError, match="scores do not apply"):
        ArrayPruner(ConstantSparsity(0.5, 1), criterion="random", seed=0).step(
            arrays(), scores=scores
        )


def test_fixed_masks_and_state_round_trip():
    params = arrays()
    rng = np.random.default_rng(4)
    fixed = {n: rng.random(params[n].shape) < 0.3 for n in ("0.weight", "1.bias")}
    eng = ArrayPruner(masks=fixed)
    for _ in range(3):
        masks = eng.step(params)
    assert list(masks) == ["0.weight", "1.bias"] and eng.fixed
    assert all(np.array_equal(masks[n], m) for n, m in fixed.items())
    state = json.loads(json.dumps({**eng.state_dict(), "masks": {}}))
    state["masks"] = eng.state_dict()["masks"]
    back = ArrayPruner.from_state_dict(state)
    assert back.pruning_step == 3 and back.get_config() == eng.get_config()
    with pytest.raises(ValueError, match="use from_state_dict|from_state_dict"):
        ArrayPruner.from_config(state["config"])


def test_resume_from_state_dict_is_identical():
    schedule = PolynomialDecay(0.0, 0.9, begin_step=2, end_step=30, frequency=4)

    def run(eng, params, steps, seed):
        rng = np.random.default_rng(seed)
        for _ in range(steps):
            for a in params.values():
                a += 0.05 * rng.standard_normal(a.shape).astype(a.dtype)
            eng.step(params)

    for criterion in ("magnitude", "random", "structured", "nm"):
        full, half = arrays(), arrays()
        one = ArrayPruner(schedule, criterion=criterion, seed=5, axis=0)
        run(one, full, 20, 0)
        run(one, full, 20, 1)
        two = ArrayPruner(schedule, criterion=criterion, seed=5, axis=0)
        run(two, half, 20, 0)
        state = two.state_dict()
        config = json.loads(json.dumps(state["config"]))
        three = ArrayPruner(ConstantSparsity(0.1, 1))
        three.load_state_dict({**state, "config": config})
        run(three, half, 20, 1)
        for name in full:
            assert np.array_equal(full[name], half[name]), (criterion, name)
        assert three.pruning_step == one.pruning_step == 40


def test_selection_and_errors():
    params = arrays()
    with pytest.raises(ValueError, match="params has no floating-point array of rank"):
        ArrayPruner(ConstantSparsity(0.5, 1)).step({"b": np.ones(3)})
    eng = ArrayPruner(ConstantSparsity(0.5, 1), include=["[01].*"], prune_biases=True)
    assert list(eng.step(params)) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    eng = ArrayPruner(ConstantSparsity(0.5, 1), policy=sc.prune.KeepDense())
    assert list(eng.step(arrays())) == ["1.weight"]
    eng = ArrayPruner(ConstantSparsity(0.5, 1), names=["2.weight"])
    eng.step(arrays())
    with pytest.raises(ValueError, match=r"params must hold every pruned array"):
        eng.step({"0.weight": params["0.weight"]})
    with pytest.raises(ValueError, match=r"params\['2.weight'\] has shape"):
        eng.step({"2.weight": np.ones((3, 3))})
    with pytest.raises(TypeError, match="params must be a dict"):
        eng.step([np.ones(3)])
    with pytest.raises(ValueError, match="names must name weights of params"):
        ArrayPruner(ConstantSparsity(0.5, 1), names=["x"]).step(arrays())
    with pytest.raises(ValueError, match="biases are never pruned unless"):
        ArrayPruner(ConstantSparsity(0.5, 1), names=["0.bias"]).step(arrays())
    with pytest.raises(TypeError, match="must be an array"):
        as_array_view("not an array", "x")
    import array

    buf = array.array("f", [1.0, 2.0, 3.0, 4.0])
    view = as_array_view(buf, "buf")
    view[0] = 0
    assert buf[0] == 0.0  # the buffer protocol: shared memory


def test_remove_makes_pruning_permanent():
    params = arrays()
    eng = ArrayPruner(ConstantSparsity(0.5, 1, frequency=1))
    masks = eng.step(params)
    eng.remove(params, "0.weight")
    assert list(eng.masks) == ["1.weight", "2.weight"]
    params["0.weight"][...] = 1.0
    eng.step(params)
    assert np.all(params["0.weight"] == 1.0)  # not pruned any more
    with pytest.raises(ValueError, match="'0.weight' is not pruned"):
        eng.remove(params, "0.weight")
    eng.remove(params)
    assert eng.masks == {} and np.all(params["1.weight"][~masks["1.weight"]] == 0)
    with pytest.raises(RuntimeError, match="were all removed"):
        eng.step(params)


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ({"step": 2**63 - 1}, r"state\['step'\] must be an int in \[0, 2\*\*62\]"),
        ({"step": 2**63}, r"state\['step'\] must be an int in \[0, 2\*\*62\]"),
        ({"step": -1}, r"state\['step'\]"),
        ({"masks": {"a": np.ones(2)}}, "must be a bool array"),
        ({"config": {"schedule": None}}, "not a valid config"),
        ({"config": {"schedule": None, "nested": "yes"}}, "not a valid config"),
    ],
)
def test_load_state_dict_refuses_malformed_fields(state, match):
    good = ArrayPruner(ConstantSparsity(0.5, 1)).state_dict()
    with pytest.raises(ValueError, match=match):
        ArrayPruner(ConstantSparsity(0.5, 1)).load_state_dict({**good, **state})
    with pytest.raises(ValueError, match=match):
        ArrayPruner.from_state_dict({**good, **state})


def test_constructor_range_checks():
    with pytest.raises(TypeError, match="schedule must be a PruningSchedule"):
        ArrayPruner()
    with pytest.raises(TypeError, match="nested must be a bool"):
        ArrayPruner(ConstantSparsity(0.5, 1), nested=1)
    with pytest.raises(ValueError, match=r"block_size must be a pair"):
        ArrayPruner(ConstantSparsity(0.5, 1), block_size=(0, 1))
    eng = ArrayPruner(ConstantSparsity(0.5, 1, frequency=1), block_size=(2**40, 1))
    params = {"w": np.random.default_rng(0).standard_normal((10, 10))}
    tracemalloc.start()
    try:
        masks = eng.step(params)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100_000  # nothing of the block's size
    assert np.array_equal(
        masks["w"], magnitude_mask(params["w"], 0.5, block_size=(10, 1))
    )
    eng.pruning_step = 2**62
    with pytest.raises(ValueError, match=r"cannot exceed 2\*\*62"):
        eng.step(params)


def test_step_allocates_nothing_parameter_sized():
    params = {"w": np.ones((300, 400), dtype=np.float32), "b": np.ones(400)}
    grads = {"w": np.ones((300, 400), dtype=np.float32)}
    eng = ArrayPruner(ConstantSparsity(0.75, begin_step=1, frequency=10**6))
    eng.step(params, grads)  # step 1: masks computed (allocates, once)
    tracemalloc.start()
    try:
        for _ in range(3):
            eng.step(params, grads)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000  # the array alone is 300 * 400 * 4 = 480 kB


@given(
    st.integers(0, 2**32),
    st.sampled_from(
        [
            {},
            {"scope": "global"},
            {"criterion": "structured", "norm": 2},
            {"criterion": "random", "seed": 3},
            {"criterion": "random_structured", "seed": 4},
            {"criterion": "nm"},
            {"block_size": (2, 4), "block_pooling": "max"},
        ]
    ),
    st.booleans(),
)
@settings(max_examples=15)
def test_property_array_pruner_and_pruner_give_identical_masks(seed, options, strict):
    """One implementation: the callback and the engine, on identical weights."""
    model = sc.Sequential(
        [sc.Dense(16), sc.ReLU(), sc.Dense(8), sc.ReLU(), sc.Dense(4)],
        input_dim=12,
        seed=seed % 1000,
    )
    model.compile("mse", sc.SGD(0.1))
    schedule = PolynomialDecay(0.1, 0.9, begin_step=1, end_step=13, frequency=3)
    pruner = Pruner(schedule, mask_gradients=strict, **options)
    pruner.set_model(model)
    eng = ArrayPruner(schedule, names=list(pruner.masks), nested=strict, **options)
    rng = np.random.default_rng(seed)
    for _ in range(16):
        mirror = {n: w.copy() for n, w in model.weights().items()}  # identical
        pruner.on_train_batch_begin(0)
        masks = eng.step(mirror)
        assert list(masks) == list(pruner.masks)
        for name, m in pruner.masks.items():
            assert np.array_equal(masks[name], m), name
        for w in model.weights().values():  # an "optimizer step"
            w += rng.standard_normal(w.shape).astype(w.dtype)
        pruner.on_after_optimizer_step()  # as fit: re-mask (strict)


# ----------------------------------------------------------------------- PyTorch
torch = pytest.importorskip("torch")


def mlp(seed, hidden=32):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(64, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, 10),
    )


def test_torch_tensors_are_pruned_in_place_zero_copy():
    model = mlp(0)
    param = model[0].weight
    pointer = param.data_ptr()
    view = as_array_view(param, "w")  # a Parameter that requires grad
    assert np.shares_memory(view, param.detach().numpy())
    eng = ArrayPruner(ConstantSparsity(0.5, begin_step=1, frequency=1))
    masks = eng.step(dict(model.named_parameters()))
    assert list(masks) == ["0.weight", "2.weight", "4.weight"]
    assert param.data_ptr() == pointer and isinstance(param, torch.nn.Parameter)
    got = (param.detach().numpy() != 0).sum()
    assert got == keep_count(param.numel(), 0.5)
    state = model.state_dict()  # detached tensors: also shared memory
    eng.step(state)
    assert np.array_equal(state["0.weight"].numpy() != 0, masks["0.weight"])
    with pytest.raises(TypeError, match="without a copy"):
        as_array_view(torch.zeros(3, dtype=torch.bfloat16), "bf16")


def test_torch_training_loop_pruned_entries_exactly_zero_after_every_step():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((256, 64)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 10, 256))
    model = mlp(1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    schedule = PolynomialDecay(0.0, 0.8, begin_step=10, end_step=60, frequency=10)
    eng = ArrayPruner(schedule)
    params = dict(model.named_parameters())
    seen = []
    for step in range(1, 81):
        idx = torch.from_numpy(rng.integers(0, 256, 32))
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        masks = eng.step(params, {n: p.grad for n, p in params.items()})
        for name, m in masks.items():
            w = params[name].detach().numpy()
            assert np.all(w[~m] == 0), (step, name)
            assert np.all(params[name].grad.numpy()[~m] == 0)
        seen.append(masks)
    for old, new in zip(seen, seen[1:], strict=False):
        assert all(not np.any(new[n] & ~old[n]) for n in old)
    for name, m in seen[-1].items():
        n = params[name].numel()
        assert np.count_nonzero(m) == keep_count(n, 0.8)
        assert np.count_nonzero(params[name].detach().numpy()) == keep_count(n, 0.8)


def digits_accuracy(prune, seed=0, epochs=30):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    torch.set_num_threads(1)
    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(
        (x / 16.0).astype(np.float32), y, test_size=0.3, stratify=y, random_state=0
    )
    x_tr, x_te = torch.from_numpy(x_tr), torch.from_numpy(x_te)
    y_tr, y_te = torch.from_numpy(y_tr), torch.from_numpy(y_te)
    model = mlp(seed, hidden=128)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    total = epochs * -(-len(x_tr) // 32)
    schedule = PolynomialDecay(0.0, 0.8, total // 5, total * 3 // 5, frequency=20)
    eng = ArrayPruner(schedule) if prune else None
    params = dict(model.named_parameters())
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x_tr), generator=order).split(32):
            loss = torch.nn.functional.cross_entropy(model(x_tr[idx]), y_tr[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if eng is not None:
                eng.step(params)
    with torch.no_grad():
        accuracy = (model(x_te).argmax(1) == y_te).float().mean().item()
    return accuracy, eng, params


def test_torch_mlp_on_digits_keeps_its_accuracy_at_80_percent():
    pytest.importorskip("sklearn")
    dense, _, _ = digits_accuracy(prune=False)
    pruned, eng, params = digits_accuracy(prune=True)
    for name in eng.masks:
        n = params[name].numel()
        assert np.count_nonzero(params[name].detach().numpy()) == keep_count(n, 0.8)
    assert dense > 0.95
    assert pruned >= dense - 0.01, (dense, pruned)


def test_the_torch_example_runs():
    pytest.importorskip("sklearn")
    spec = importlib.util.spec_from_file_location("torch_prune_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.EPOCHS = 3  # the same code, shorter
    accuracy, model, engine = module.train(prune=True)
    assert accuracy > 0.5
    weight = model[0].weight.detach().numpy()
    assert np.count_nonzero(weight) == np.count_nonzero(engine.masks["0.weight"])
    assert "4.weight" not in engine.masks  # the policy keeps the last layer dense


def test_k_uses_tfmot_float32_sparsity_not_the_float64_value():
    # At step 1400 of the tutorial's schedule the float64 sparsity rounds to a
    # float32 one ulp away from tfmot's float32 value, and on 2,000 weights
    # that moves k: tfmot keeps 1,593, the float64 value would keep 1,594.
    schedule = PolynomialDecay(0.0, 0.75, begin_step=1000, end_step=5000)
    s64, s32 = schedule(1400)[1], schedule.sparsity_float32(1400)
    assert (keep_count(2000, s32), keep_count(2000, s64)) == (1593, 1594)
    rng = np.random.default_rng(7)
    params = {"w": rng.standard_normal((40, 50)).astype(np.float32)}
    eng = ArrayPruner(schedule)
    for _ in range(1400):
        masks = eng.step(params)
    assert np.count_nonzero(masks["w"]) == 1593
    assert np.count_nonzero(params["w"]) == 1593


def test_zero_optimizer_state_zeroes_the_slots_of_pruned_weights():
    params = {"w": np.arange(1.0, 13.0, dtype=np.float32).reshape(3, 4)}
    eng = ArrayPruner(ConstantSparsity(0.5, begin_step=1, frequency=1))
    masks = eng.step(params)

    class Optimizer:  # a sparsecore optimizer's slots: state[name][slot]
        state = {"w": {"m": np.ones((3, 4), np.float32), "v": np.ones((3, 4))},
                 "b": {"m": np.ones(4)}}  # fmt: skip

    eng.zero_optimizer_state(Optimizer)
    for slot in Optimizer.state["w"].values():
        np.testing.assert_array_equal(slot, masks["w"].astype(slot.dtype))
    np.testing.assert_array_equal(Optimizer.state["b"]["m"], np.ones(4))  # unpruned
    eng.zero_optimizer_state(None)  # no optimizer: nothing to do
