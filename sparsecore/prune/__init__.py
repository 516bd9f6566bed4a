"""The prune stage: schedules, mask criteria, the Pruner callback, reports.

Criteria are plain functions on NumPy arrays (no model needed); the
:class:`Pruner` applies them to a model during ``fit``.
"""

from sparsecore.prune.criteria import (
    global_magnitude_masks,
    global_random_masks,
    keep_count,
    magnitude_mask,
    nm_mask,
    random_mask,
    structured_mask,
)
from sparsecore.prune.pruner import Pruner, strip_pruning
from sparsecore.prune.report import SparsityReport, SparsityRow, sparsity_report
from sparsecore.prune.schedules import (
    ConstantSparsity,
    PolynomialDecay,
    PruningSchedule,
    PruningScheduleWarning,
    schedule_from_config,
)

__all__ = [
    "ConstantSparsity",
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
