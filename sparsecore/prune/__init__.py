"""The prune stage: schedules, mask criteria, the Pruner callback, reports, methods.

Criteria are plain functions on NumPy arrays (no model needed); the
:class:`Pruner` applies them to a model during ``fit``. The methods of the
literature build on them: sparsity allocation (:mod:`~sparsecore.prune.allocation`),
pruning at initialization (:mod:`~sparsecore.prune.init_pruning`: SNIP, GraSP,
SynFlow), dynamic sparse training (:mod:`~sparsecore.prune.dynamic`: RigL, SET),
movement pruning (:mod:`~sparsecore.prune.movement`), retraining under fixed
masks (:mod:`~sparsecore.prune.retrain`: one-shot fine-tuning, lottery
tickets) and per-layer sensitivity analysis (:mod:`~sparsecore.prune.sensitivity`).
"""

from sparsecore.prune.allocation import (
    Allocation,
    allocate_masks,
    erk_densities,
    top_k_mask,
)
from sparsecore.prune.clone import clone_model
from sparsecore.prune.criteria import (
    global_magnitude_masks,
    global_random_masks,
    keep_count,
    magnitude_mask,
    nm_mask,
    random_mask,
    structured_mask,
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
from sparsecore.prune.movement import MovementScores, movement_masks
from sparsecore.prune.pruner import Pruner, strip_pruning
from sparsecore.prune.report import SparsityReport, SparsityRow, sparsity_report
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

__all__ = [
    "SET",
    "Allocation",
    "ConstantSparsity",
    "DynamicSparsity",
    "LotteryResult",
    "MovementScores",
    "PrunedRun",
    "RigL",
    "SensitivityResult",
    "allocate_masks",
    "clone_model",
    "connected_inputs",
    "erk_densities",
    "grasp_masks",
    "grasp_scores",
    "hessian_gradient_product",
    "layer_collapse",
    "loss_gradients",
    "lottery_ticket",
    "movement_masks",
    "prune_and_finetune",
    "sensitivity",
    "snip_masks",
    "snip_scores",
    "synflow_masks",
    "synflow_scores",
    "top_k_mask",
    "train_with_masks",
    "PolynomialDecay",
    "Pruner",
    "PruningSchedule",
    "PruningScheduleWarning",
    "SparsityReport",
    "SparsityRow",
    "global_magnitude_masks",
    "global_random_masks",
    "keep_count",
    "magnitude_mask",
    "nm_mask",
    "random_mask",
    "schedule_from_config",
    "sparsity_report",
    "strip_pruning",
    "structured_mask",
]
