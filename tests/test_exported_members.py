"""The public API: every name the README documents is exported, and nothing stray."""

import importlib

import sparsecore as sc

EXPECTED = {
    # train
    "Sequential",
    "Dense",
    "ReLU",
    "LeakyReLU",
    "Tanh",
    "Sigmoid",
    "Softmax",
    "Identity",
    "MSE",
    "MAE",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "SGD",
    "Adam",
    "AdamW",
    "LearningRateSchedule",
    "CosineDecay",
    "ExponentialDecay",
    "PiecewiseConstantDecay",
    "Callback",
    "History",
    "EarlyStopping",
    "TerminateOnNaN",
    "NonFiniteLossError",
    "ModelCheckpoint",
    "load_model",
    "CheckpointFormatError",
    # prune
    "PolynomialDecay",
    "ConstantSparsity",
    "PruningSchedule",
    "Pruner",
    "PruningScheduleWarning",
    "sparsity_report",
    "strip_pruning",
    # deploy
    "SparseModel",
    "SparseFormatError",
    # modules and metadata
    "data",
    "nn",
    "prune",
    "runtime",
    "sweep",
    "__version__",
}


def test_root_exports_exactly_the_public_api():
    assert set(sc.__all__) == EXPECTED
    for name in sc.__all__:
        assert getattr(sc, name) is not None, name


def test_every_module_all_is_importable():
    modules = [
        "sparsecore.nn",
        "sparsecore.prune",
        "sparsecore.runtime",
        "sparsecore.sweep",
        "sparsecore.sweep.grid",
        "sparsecore.sweep.methods",
        "sparsecore.sweep.cell",
        "sparsecore.sweep.store",
        "sparsecore.sweep.run",
        "sparsecore.data",
        "sparsecore.checkpoint",
        "sparsecore.experiment",
        "sparsecore.bench",
        "sparsecore.nn.layers",
        "sparsecore.nn.activations",
        "sparsecore.nn.losses",
        "sparsecore.nn.metrics",
        "sparsecore.nn.learning_rate",
        "sparsecore.nn.optimizers",
        "sparsecore.nn.initializers",
        "sparsecore.nn.callbacks",
        "sparsecore.nn.model",
        "sparsecore.nn.gradcheck",
        "sparsecore.prune.schedules",
        "sparsecore.prune.criteria",
        "sparsecore.prune.pruner",
        "sparsecore.runtime.csr",
        "sparsecore.runtime.model",
        "sparsecore.runtime.io",
        "sparsecore.runtime.atomic",
        "sparsecore.runtime.npz",
        "sparsecore.runtime.safetensors",
        "sparsecore.runtime.onnx",
        "sparsecore.runtime.auto",
        "sparsecore.runtime.ell",
        "sparsecore.runtime.plan",
        "sparsecore.runtime.compact",
        "sparsecore.runtime.activations",
        "sparsecore.checkpoint.schema",
        "sparsecore.checkpoint.read",
        "sparsecore.checkpoint.write",
        "sparsecore.checkpoint.callback",
        "sparsecore.cli",
        "sparsecore.plots",
        "sparsecore.prune.report",
        "sparsecore.prune.allocation",
        "sparsecore.prune.clone",
        "sparsecore.prune.init_pruning",
        "sparsecore.prune.dynamic",
        "sparsecore.prune.movement",
        "sparsecore.prune.retrain",
        "sparsecore.prune.sensitivity",
        "sparsecore.prune.methods",
        "sparsecore.prune.policy",
        "sparsecore.prune.sparse_training",
        "sparsecore.runtime.pattern",
    ]
    for name in modules:
        module = importlib.import_module(name)
        assert module.__all__, name
        for attr in module.__all__:
            assert hasattr(module, attr), f"{name}.{attr}"


def test_design_api_names():
    # the functional criteria the README documents
    for name in (
        "magnitude_mask",
        "global_magnitude_masks",
        "structured_mask",
        "nm_mask",
        "random_mask",
        # issue 11 and 14: the mask toolkit and the array-level engine
        "random_structured_mask",
        "is_pruned_m_by_n",
        "prune_count",
        "is_pruned",
        "remove",
        "ArrayPruner",
        "KeepDense",
        "PruningPolicy",
        "PruningSummaries",
        # issue 15: sparse training, and its engine for mask-managing callbacks
        "SparseTraining",
    ):
        assert callable(getattr(sc.prune, name))
    assert issubclass(sc.runtime.SparseFormatError, ValueError)
    # the pruning methods of issue 12
    for name in (
        "lottery_ticket",
        "prune_and_finetune",
        "train_with_masks",
        "snip_masks",
        "grasp_masks",
        "synflow_masks",
        "sensitivity",
        "allocate_masks",
        "movement_masks",
        "layer_collapse",
    ):
        assert callable(getattr(sc.prune, name))
    assert issubclass(sc.prune.RigL, sc.Callback)
    assert issubclass(sc.prune.SET, sc.Callback)
    assert issubclass(sc.prune.MovementScores, sc.Callback)
    assert issubclass(sc.prune.MovementPruner, sc.Callback)
