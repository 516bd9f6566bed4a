"""tfmot's end-to-end pruning tests (prune_integration_test), translated.

Source: tensorflow/model-optimization,
tensorflow_model_optimization/python/core/sparsity/keras/prune_integration_test.py.
tfmot's ``prune_low_magnitude(model)`` + ``UpdatePruningStep`` is sparsecore's
``Pruner`` in ``fit``; ``build_simple_dense_model`` (Dense(8, relu) on 10
inputs, Dense(5, softmax)) is rebuilt with sparsecore's layers; tfmot's
``assert_model_sparsity`` (each pruned weight within 1e-6 of the target) is
kept as is. Only the tests that apply to dense layers are translated: Conv,
RNN, Embedding and attention layers, subclassed models and TF's weight-file
formats have no counterpart. Adaptations (docs/semantics.md):

- ``prune_low_magnitude`` wraps the model (and drops its optimizer); sparsecore
  attaches a callback to the model's own weights: weight objects are the same
  arrays, and the optimizer is kept;
- ``testPruneCheckpoints_CheckpointsNotSparse`` documents a tfmot bug (weights
  saved mid-epoch are not masked); sparsecore masks after every step, so its
  checkpoints are sparse: the translation asserts the opposite;
- N:M with 7 inputs (tfmot's ``Conv2D_not_multiple_4``) is a Dense layer on 7
  inputs here: the same padding rule, sparsity 3/7.
"""

import numpy as np
import pytest

import sparsecore as sc
from sparsecore.prune import (
    ArrayPruner,
    ConstantSparsity,
    PolynomialDecay,
    Pruner,
    is_pruned_m_by_n,
    strip_pruning,
)


def build_simple_dense_model(seed=0, n_in=10, units=8):
    """tfmot keras test_utils.build_simple_dense_model."""
    return sc.Sequential(
        [sc.Dense(units), sc.ReLU(), sc.Dense(5), sc.Softmax()],
        input_dim=n_in,
        seed=seed,
    )


def data(seed=0, n=20, n_in=10):
    """tfmot: x ~ U[0, 1), 20 samples; y one-hot of 5 random classes."""
    rng = np.random.default_rng(seed)
    y = np.eye(5)[rng.integers(0, 5, n)]
    return rng.random((n, n_in)), y


def train(model, epochs=1, x=None, y=None, callbacks=None):
    """tfmot: PruneIntegrationTest._train_model (sgd, batch 20 = one step)."""
    if x is None:
        x, y = data()
    if model.optimizer is None:
        model.compile(sc.CategoricalCrossentropy(), "sgd")
    model.fit(x, y, epochs=epochs, batch_size=20, callbacks=callbacks or [],
              verbose=0, seed=0)  # fmt: skip


def assert_model_sparsity(sparsity, model, rtol=1e-6, atol=1e-6):
    """tfmot test_utils.assert_model_sparsity, over the pruned weights."""
    names = model.pruner.masks if model.pruner is not None else []
    for name in names:
        w = model.weights()[name]
        got = 1.0 - np.count_nonzero(w) / w.size
        assert got == pytest.approx(sparsity, rel=rtol, abs=atol), name


def check_strip_pruning_matches_original(model, sparsity, x=None):
    """tfmot: PruneIntegrationTest._check_strip_pruning_matches_original."""
    assert_model_sparsity(sparsity, model)
    names = list(model.pruner.masks)
    if x is None:
        x = np.random.default_rng(1).standard_normal((1, model.input_dim))
    before = model.predict(x)
    stripped = strip_pruning(model)
    np.testing.assert_almost_equal(before, stripped.predict(x))
    for name in names:  # still at the sparsity, and no pruner any more
        w = stripped.weights()[name]
        assert 1 - np.count_nonzero(w) / w.size == pytest.approx(sparsity, abs=1e-6)
    assert stripped.pruner is None


# tfmot: PruneIntegrationTest.testPrunesZeroSparsity_IsNoOp
def test_prunes_zero_sparsity_is_no_op():
    model, model2 = build_simple_dense_model(), build_simple_dense_model()
    model2.set_weights(model.get_weights())
    x, y = data()
    train(model, x=x, y=y)
    pruner = Pruner(ConstantSparsity(target_sparsity=0, begin_step=0, frequency=1))
    train(model2, x=x, y=y, callbacks=[pruner])
    for a, b in zip(model.weights().values(), model2.weights().values(), strict=True):
        assert a is not b
        np.testing.assert_allclose(a, b)


# tfmot: PruneIntegrationTest.testPruneWithHighSparsity
def test_prune_with_high_sparsity():
    model = build_simple_dense_model()
    pruner = Pruner(ConstantSparsity(target_sparsity=0.99, begin_step=0, frequency=1))
    train(model, callbacks=[pruner])
    for name in pruner.masks:
        assert np.count_nonzero(model.weights()[name]) == 1


def pretrained():
    model = build_simple_dense_model()
    train(model)
    return model


# tfmot: PruneIntegrationTest.testPrunePretrainedModel_RemovesOptimizer
def test_prune_pretrained_model_keeps_optimizer():
    # Adapted: prune_low_magnitude returns a new model without optimizer; a
    # Pruner attaches to the model, whose optimizer (and state) stays.
    model = pretrained()
    optimizer = model.optimizer
    Pruner(ConstantSparsity(0.5, 0, -1, 1)).set_model(model)
    assert model.optimizer is optimizer


# tfmot: PruneIntegrationTest.testPrunePretrainedModel_PreservesWeightObjects
def test_prune_pretrained_model_preserves_weight_objects():
    model = pretrained()
    before = model.weights()
    Pruner(ConstantSparsity(0.5, 0, -1, 1)).set_model(model)
    after = model.weights()
    assert all(before[n] is after[n] for n in before)


# tfmot: PruneIntegrationTest.testPrunePretrainedModel_SameInferenceWithoutTraining
# and testLoadTFWeightsThenPrune_SameInferenceWithoutTraining (weights loaded
# with set_weights: sparsecore has no TF weight files)
@pytest.mark.parametrize("load", [False, True])
def test_prune_pretrained_model_same_inference_without_training(load):
    model = pretrained()
    target = model
    if load:
        target = build_simple_dense_model(seed=5)
        target.set_weights(model.get_weights())
    x = np.random.default_rng(2).random((10, 10))
    out = model.predict(x)
    Pruner(ConstantSparsity(0.5, 0, -1, 1)).set_model(target)
    assert np.array_equal(out, target.predict(x))


# tfmot: PruneIntegrationTest.testPrunesSingleLayer_ReachesTargetSparsity
# (layers.Dense: ([4], (6,)), the one applicable layer type)
def test_prunes_single_dense_layer_reaches_target_sparsity():
    model = sc.Sequential([sc.Dense(4)], input_dim=6, seed=0)
    model.compile(sc.CategoricalCrossentropy(from_logits=True), "sgd")
    pruner = Pruner(ConstantSparsity(0.5, 0, -1, 1))
    pruner.set_model(model)
    assert_model_sparsity(0.0, model)
    rng = np.random.default_rng(0)
    model.fit(rng.standard_normal((32, 6)), np.eye(4)[rng.integers(0, 4, 32)],
              callbacks=[pruner], verbose=0)  # fmt: skip
    assert_model_sparsity(0.5, model)
    check_strip_pruning_matches_original(model, 0.5)


# tfmot: PruneIntegrationTest.testMbyNSparsityPruning_SupportedLayers (the
# Dense cases, and Conv2D_not_multiple_4 as a Dense layer on 7 inputs)
@pytest.mark.parametrize(
    ("n_in", "m_by_n", "sparsity_ratio"),
    [(8, (2, 4), 0.5), (8, (1, 2), 0.5), (7, (2, 4), 0.428571)],
)
def test_m_by_n_sparsity_pruning_supported_layers(n_in, m_by_n, sparsity_ratio):
    model = sc.Sequential([sc.Dense(16)], input_dim=n_in, seed=0)
    model.compile("mse", "sgd")
    pruner = Pruner(ConstantSparsity(0.5, 0, -1, 1), criterion="nm", nm=m_by_n)
    pruner.set_model(model)
    assert_model_sparsity(0.0, model)
    rng = np.random.default_rng(0)
    model.fit(rng.standard_normal((32, n_in)), rng.standard_normal((32, 16)),
              callbacks=[pruner], verbose=0)  # fmt: skip
    assert is_pruned_m_by_n(model.weights()["dense_0/kernel"], m_by_n)
    kernel = model.weights()["dense_0/kernel"]
    assert 1 - np.count_nonzero(kernel) / kernel.size == pytest.approx(
        sparsity_ratio, abs=1e-6
    )
    assert sc.prune.is_pruned(model)
    x = rng.standard_normal((1, n_in))
    before = model.predict(x)
    np.testing.assert_almost_equal(before, strip_pruning(model).predict(x))


# tfmot: PruneIntegrationTest.testPruneCheckpoints_CheckpointsNotSparse
def test_prune_checkpoints_are_sparse(tmp_path):
    # Adapted: the opposite of tfmot's bug: every checkpoint is sparse.
    for run in range(3):
        model = build_simple_dense_model(seed=run)
        pruner = Pruner(ConstantSparsity(0.5, 0, -1, 1))
        path = tmp_path / f"weights{run}.npz"
        train(model, callbacks=[pruner, sc.ModelCheckpoint(path)])
        assert_model_sparsity(0.5, model)
        loaded = sc.load_model(path)
        assert_model_sparsity(0.5, loaded)
        assert sc.prune.is_pruned(loaded)


def save_restore(model, path):
    """tfmot test_utils._save_restore_keras_model."""
    model.save(path)
    return sc.load_model(path)


# tfmot: PruneIntegrationTest.testPruneStopAndRestart_PreservesSparsity
def test_prune_stop_and_restart_preserves_sparsity(tmp_path):
    pruner = Pruner(PolynomialDecay(0.2, 0.6, 1, 4, 3, 1))
    model = build_simple_dense_model()
    model.compile(sc.CategoricalCrossentropy(), "sgd")
    pruner.set_model(model)
    # Model hasn't been trained yet. Sparsity 0.0
    assert_model_sparsity(0.0, model)
    # Train only 1 step. Sparsity 0.2 (initial_sparsity); sparsecore warns that
    # this fit stops before the schedule ends (tfmot says nothing).
    with pytest.warns(sc.PruningScheduleWarning, match="1 < 4"):
        train(model, epochs=1, callbacks=[pruner])
    assert_model_sparsity(0.2, model)
    model = save_restore(model, tmp_path / "m.npz")
    # Training has run all 4 steps. Sparsity 0.6 (final_sparsity)
    train(model, epochs=4)  # Keras-style epochs: 3 more from model.epoch = 1
    assert_model_sparsity(0.6, model)
    check_strip_pruning_matches_original(model, 0.6)


# tfmot: PruneIntegrationTest.testPruneWithPolynomialDecayPastEndStep_PreservesSparsity
def test_prune_with_polynomial_decay_past_end_step_preserves_sparsity(tmp_path):
    model = build_simple_dense_model()
    pruner = Pruner(PolynomialDecay(0.2, 0.6, 0, 2, 3, 1))
    model.compile(sc.CategoricalCrossentropy(), "sgd")
    pruner.set_model(model)
    assert_model_sparsity(0.0, model)
    # Train 3 steps, past end_step. Sparsity 0.6 (final_sparsity)
    train(model, epochs=3, callbacks=[pruner])
    assert_model_sparsity(0.6, model)
    model = save_restore(model, tmp_path / "m.npz")
    assert_model_sparsity(0.6, model)
    # Train one more step to ensure nothing brings sparsity back below 0.6.
    model.fit(*data(), epochs=4, initial_epoch=3, batch_size=20, verbose=0)
    assert_model_sparsity(0.6, model)
    check_strip_pruning_matches_original(model, 0.6)


# tfmot: PruneIntegrationCustomTrainingLoopTest.
# testPrunesModel_CustomTrainingLoop_ReachesTargetSparsity
def test_prunes_model_custom_training_loop_reaches_target_sparsity():
    model = build_simple_dense_model()
    engine = ArrayPruner(
        ConstantSparsity(target_sparsity=0.5, begin_step=0, frequency=1)
    )
    loss = sc.CategoricalCrossentropy()
    optimizer = sc.SGD()
    optimizer.build(model.weights())
    x, y = data()
    for _ in range(2):  # 2 epochs of one batch
        pred = model.forward(x)
        model.backward(loss.gradient(y, pred))
        optimizer.apply(model.weights(), model.gradients())
        engine.step(model.weights())  # the step callback and re-masking in one
    for name in engine.masks:
        w = model.weights()[name]
        assert 1 - np.count_nonzero(w) / w.size == pytest.approx(0.5, abs=1e-6)
    assert list(engine.masks) == ["dense_0/kernel", "dense_1/kernel"]
