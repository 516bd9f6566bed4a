"""tfmot's own mask tests (pruning_impl_test), translated to sparsecore.

Source: tensorflow/model-optimization,
tensorflow_model_optimization/python/core/sparsity/keras/pruning_impl_test.py.
tfmot's ``Pruning`` object (weights, a step function, a schedule) is
sparsecore's :class:`~sparsecore.prune.ArrayPruner` over the same arrays;
``_update_mask`` / ``_maybe_update_block_mask`` are ``magnitude_mask`` and
``nm_mask``. Adaptations, each a documented difference (docs/semantics.md):

- steps: tfmot's unit tests drive ``Pruning`` from global step 0; an
  ArrayPruner's k-th step is step k (1-based, as tfmot's Keras wrapper), so a
  schedule indexed by tfmot's step t is read at step t + 1 here;
- ``_update_mask`` returns a threshold; sparsecore returns the mask only (the
  threshold is the smallest kept magnitude);
- N:M on rank-1 and rank-3 weights: tfmot raises, sparsecore groups along the
  given axis (``is_pruned_m_by_n(..., 'C_OUT')`` still refuses those ranks).
"""

import numpy as np
import pytest

from sparsecore.prune import (
    ArrayPruner,
    ConstantSparsity,
    PruningSchedule,
    is_pruned_m_by_n,
    magnitude_mask,
    nm_mask,
)


class ListSchedule(PruningSchedule):
    """A schedule that prunes at every step, to a listed sparsity (tfmot's
    ``linear_sparsity`` test function)."""

    def __init__(self, values):
        self.values = list(values)
        self.begin_step, self.end_step, self.frequency = 0, len(values), 1

    def sparsity_at(self, steps):
        return np.asarray(self.values, dtype=np.float64)[np.asarray(steps) - 1]

    def get_config(self):
        return {"class_name": "ListSchedule", "config": {"values": self.values}}


def linspace_weights():
    return {"weights": np.linspace(1.0, 100.0, 100)}


# tfmot: PruningTest.testExtremelySparseMask
def test_extremely_sparse_mask():
    params = linspace_weights()
    p = ArrayPruner(ConstantSparsity(0.9999, 0, 100, 1), names=["weights"])
    p.step(params)
    # We should always have a single connection remaining.
    assert np.count_nonzero(p.masks["weights"]) == 1
    assert np.count_nonzero(params["weights"]) == 1


# tfmot: PruningTest.testUpdateSingleMask
def test_update_single_mask():
    params = linspace_weights()
    p = ArrayPruner(ConstantSparsity(0.5, 0, 100, 1), names=["weights"])
    p.step(params)
    assert np.count_nonzero(p.masks["weights"]) == 50


# tfmot: PruningTest.testConstructsMaskAndThresholdCorrectly
def test_constructs_mask_and_threshold_correctly():
    # "Sparsity math often returns values with small tolerances."
    w = np.arange(1, 11)
    mask = magnitude_mask(w, 0.200000018)
    assert mask.tolist() == [False, False] + [True] * 8
    assert np.abs(w[mask]).min() == 3  # tfmot's threshold


def block_masking(block_size, pooling, weight, expected):
    """tfmot: PruningTest._blockMasking (ConstantSparsity(0.5, 0, 100, 1))."""
    weight = np.asarray(weight)
    p = ArrayPruner(
        ConstantSparsity(0.5, 0, 100, 1),
        names=["w"],
        block_size=block_size,
        block_pooling=pooling,
    )
    mask = p.step({"w": weight.copy()})["w"]
    assert mask.shape == weight.shape
    assert np.array_equal(mask, np.asarray(expected, dtype=bool))


# tfmot: PruningTest.testBlockMaskingAvg
def test_block_masking_avg():
    weight = [[0.1, 0.1, 0.2, 0.2], [0.1, 0.1, 0.2, 0.2],
              [0.3, 0.3, 0.4, 0.4], [0.3, 0.3, 0.4, 0.4]]  # fmt: skip
    expected = [[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]]
    block_masking((2, 2), "AVG", weight, expected)


# tfmot: PruningTest.testBlockMaskingMax
def test_block_masking_max():
    weight = [[0.1, 0.0, 0.2, 0.0], [0.0, -0.1, 0.0, -0.2],
              [0.3, 0.0, 0.4, 0.0], [0.0, -0.3, 0.0, -0.4]]  # fmt: skip
    expected = [[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]]
    block_masking((2, 2), "MAX", weight, expected)


# tfmot: PruningTest.testBlockMaskingWithHigherDimensionsRaisesError
def test_block_masking_with_higher_dimensions_raises_error():
    weight = [[[0.1, 0.1, 0.2, 0.2], [0.1, 0.1, 0.2, 0.2],
               [0.3, 0.3, 0.4, 0.4], [0.3, 0.3, 0.4, 0.4]]]  # fmt: skip
    expected = [[[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]]]
    # Block masking should only be used with 2 Dimensional weights.
    with pytest.raises(ValueError):
        block_masking((2, 2), "AVG", weight, expected)
    with pytest.raises(ValueError):
        magnitude_mask(np.asarray(weight), 0.5, block_size=(2, 2))


# tfmot: PruningTest.testConditionalMaskUpdate
def test_conditional_mask_update():
    params = linspace_weights()
    # tfmot's step t reads sparsity_val[t], t = 0..9; here step t + 1 does.
    values = [0.0, 0.1, 0.1, 0.3, 0.3, 0.5, 0.5, 0.5, 0.5, 0.5]
    p = ArrayPruner(ListSchedule(values), names=["weights"])
    non_zero_count = []
    for _ in range(10):
        p.step(params)  # update the mask (when due), then weights = weights * mask
        non_zero_count.append(np.count_nonzero(params["weights"]))
    # Weights pruned at steps 1, 3, 5
    assert non_zero_count == [100, 90, 90, 70, 70, 50, 50, 50, 50, 50]


M_BY_N_CASES = {
    "_2d_2by4": (
        [[0.74, 0.68], [-0.89, -0.45], [-1.68, 1.24], [0.31, -0.6]],
        [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]],
        (2, 4),
    ),
    "_4d_2by4": (
        [[[[-0.36, -0.77], [-0.43, -0.18], [0.12, 1.36], [0.77, 0.96]]]],
        [[[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]],
        (2, 4),
    ),
    "_4d_1by2": (
        [[[[-0.36, -0.77], [-0.43, -0.18], [0.12, 1.36], [0.77, 0.96]]]],
        [[[[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]]],
        (1, 2),
    ),
    "_2d_2by4_pad": (
        [[1.92, -0.21], [-0.19, 0.57], [1.1, -0.42]],
        [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
        (2, 4),
    ),
    "_4d_2by4_pad": (
        [[[[-0.37, 1.85], [0.82, 0.07], [1.17, 0.5]]]],
        [[[[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]]],
        (2, 4),
    ),
}


# tfmot: PruningTest.testSparsityMbyNMaskingSimple (all five named cases)
@pytest.mark.parametrize("case", sorted(M_BY_N_CASES))
def test_sparsity_m_by_n_masking_simple(case):
    weights, expected, (m, n) = M_BY_N_CASES[case]
    w = np.asarray(weights)
    axis = w.ndim - 2  # the input channels of a Keras kernel (C_IN)
    expected = np.asarray(expected, dtype=bool)
    assert np.array_equal(nm_mask(w, m, n, axis=axis), expected)
    # ... and through the engine, as tfmot's Pruning(sparsity_m_by_n=...)
    p = ArrayPruner(
        ConstantSparsity(0.5, 0, 100, 1), criterion="nm", nm=(m, n), axis=axis,
        names=["w"],
    )  # fmt: skip
    params = {"w": w.copy()}
    assert np.array_equal(p.step(params)["w"], expected)
    assert is_pruned_m_by_n(params["w"], (m, n))


# tfmot: PruningTest.testSparsityMbyNMaskingSimpleRaises (_1d, _3d)
@pytest.mark.parametrize("shape", [(4,), (4, 4, 4)])
def test_sparsity_m_by_n_masking_simple_raises(shape):
    # Adapted: tfmot raises ValueError; sparsecore groups along `axis`
    # (documented), so the check is that every group keeps 2 of 4. tfmot's
    # layout check itself still refuses these ranks.
    w = np.random.default_rng(len(shape)).standard_normal(shape)
    mask = nm_mask(w, 2, 4, axis=0)
    assert np.all(mask.sum(axis=0) == 2)
    with pytest.raises(ValueError):
        is_pruned_m_by_n(w * mask, (2, 4), "C_OUT")
    assert is_pruned_m_by_n(w * mask, (2, 4), axis=0)


def tfmot_polynomial_decay(schedule, step):
    """tfmot's PolynomialDecay.__call__ op for op in float32 (pruning_schedule.py)."""
    f32 = np.float32
    p = f32(step - schedule.begin_step) / f32(schedule.end_step - schedule.begin_step)
    p = np.minimum(f32(1.0), np.maximum(f32(0.0), p))
    s = schedule
    return f32(s.initial_sparsity - s.final_sparsity) * np.power(
        f32(1) - p, f32(s.power)
    ) + f32(s.final_sparsity)


def tfmot_update_mask(w, sparsity32):
    """tfmot's Pruning._update_mask: k in float32, keep |w| >= the k-th largest."""
    k = max(1, int(np.rint(np.float32(w.size) * (np.float32(1) - sparsity32))))
    threshold = np.sort(np.abs(w).ravel())[::-1][k - 1]
    return np.abs(w) >= threshold


# Not a tfmot test: the claim of the README and docs/semantics.md, checked on
# the tfmot path (schedule -> Pruner -> magnitude mask) against tfmot's own
# arithmetic: with no ties, every mask of the tutorial's schedule is tfmot's,
# bit for bit (tfmot's mode: mask_gradients=False re-ranks from scratch).
def test_schedule_pruner_magnitude_mask_is_tfmot_bit_for_bit():
    import sparsecore as sc

    schedule = sc.PolynomialDecay(0.0, 0.75, begin_step=1000, end_step=5000)
    model = sc.Sequential(
        [sc.Dense(100), sc.ReLU(), sc.Dense(30), sc.ReLU(), sc.Dense(1)],
        input_dim=300,
        seed=0,
    )
    model.compile("mse", sc.SGD(0.1))
    pruner = sc.Pruner(schedule, mask_gradients=False)
    pruner.set_model(model)
    rng = np.random.default_rng(0)
    checked = 0
    for step in range(1, 5001):
        if schedule(step)[0]:  # weights moved since the last pruning step
            for w in model.weights().values():
                w += rng.standard_normal(w.shape).astype(w.dtype) * 0.01
            before = {n: w.copy() for n, w in model.weights().items()}
        pruner.on_train_batch_begin(0)
        if schedule(step)[0]:
            s32 = tfmot_polynomial_decay(schedule, step)
            for name, mask in pruner.masks.items():
                assert np.array_equal(mask, tfmot_update_mask(before[name], s32))
            checked += 1
    assert checked == 41
    assert np.count_nonzero(pruner.masks["dense_0/kernel"]) == 7500
