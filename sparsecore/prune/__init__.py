"""The prune stage: schedules, mask criteria, the pruning engine, reports, methods.

Criteria are plain functions on NumPy arrays (no model needed); the
:class:`ArrayPruner` engine applies them to named arrays of any framework
during training, and the :class:`Pruner` is that engine as a ``fit``
callback; :mod:`~sparsecore.prune.policy` chooses which weights are pruned.
While masks are fixed, :class:`SparseTraining` (the Pruner's
``sparse_training``) trains the masked Dense layers on sparse kernels.

The methods of the literature build on them: sparsity allocation
(:mod:`~sparsecore.prune.allocation`: uniform, global, ERK), pruning at
initialization (:mod:`~sparsecore.prune.init_pruning`: SNIP, GraSP, SynFlow),
dynamic sparse training (:mod:`~sparsecore.prune.dynamic`: RigL, SET), movement
pruning (:mod:`~sparsecore.prune.movement`), retraining under fixed masks
(:mod:`~sparsecore.prune.retrain`: one-shot fine-tuning, lottery tickets) and
per-layer sensitivity analysis (:mod:`~sparsecore.prune.sensitivity`).
"""

from sparsecore.prune.allocation import (
    Allocation,
    allocate_masks,
    erk_densities,
)
from sparsecore.prune.clone import clone_model
from sparsecore.prune.criteria import (
    global_magnitude_masks,
    global_random_masks,
    is_pruned_m_by_n,
    keep_count,
    magnitude_mask,
    nm_mask,
    prune_count,
    random_mask,
    random_structured_mask,
    structured_mask,
    top_k_mask,
)
from sparsecore.prune.dynamic import SET, DynamicSparsity, RigL
from sparsecore.prune.init_pruning import (
    connected_inputs,
    grasp_masks,
    grasp_scores,
    hessian_gradient_product,
    layer_collapse,
    loss_gradients,
    snip_masks,
    snip_scores,
    synflow_masks,
    synflow_scores,
)
from sparsecore.prune.movement import MovementPruner, MovementScores, movement_masks
from sparsecore.prune.policy import KeepDense, PruningPolicy
from sparsecore.prune.pruner import (
    ArrayPruner,
    Pruner,
    is_pruned,
    remove,
    strip_pruning,
)
from sparsecore.prune.report import (
    PruningSummaries,
    SparsityReport,
    SparsityRow,
    sparsity_report,
)
from sparsecore.prune.retrain import (
    LotteryResult,
    PrunedRun,
    lottery_ticket,
    prune_and_finetune,
    train_with_masks,
)
from sparsecore.prune.schedules import (
    ConstantSparsity,
    PolynomialDecay,
    PruningSchedule,
    PruningScheduleWarning,
    schedule_from_config,
)
from sparsecore.prune.sensitivity import SensitivityResult, sensitivity
from sparsecore.prune.sparse_training import SparseTraining

__all__ = [
    "SET",
    "Allocation",
    "ArrayPruner",
    "ConstantSparsity",
    "DynamicSparsity",
    "KeepDense",
    "LotteryResult",
    "MovementPruner",
    "MovementScores",
    "PolynomialDecay",
    "PrunedRun",
    "Pruner",
    "PruningPolicy",
    "PruningSchedule",
    "PruningScheduleWarning",
    "PruningSummaries",
    "RigL",
    "SensitivityResult",
    "SparsityReport",
    "SparseTraining",
    "SparsityRow",
    "allocate_masks",
    "clone_model",
    "connected_inputs",
    "erk_densities",
    "global_magnitude_masks",
    "global_random_masks",
    "grasp_masks",
    "grasp_scores",
    "hessian_gradient_product",
    "is_pruned",
    "is_pruned_m_by_n",
    "keep_count",
    "layer_collapse",
    "loss_gradients",
    "lottery_ticket",
    "magnitude_mask",
    "movement_masks",
    "nm_mask",
    "prune_and_finetune",
    "prune_count",
    "random_mask",
    "random_structured_mask",
    "remove",
    "schedule_from_config",
    "sensitivity",
    "snip_masks",
    "snip_scores",
    "sparsity_report",
    "strip_pruning",
    "structured_mask",
    "synflow_masks",
    "synflow_scores",
    "top_k_mask",
    "train_with_masks",
]
