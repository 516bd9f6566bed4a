"""The prune stage: schedules, mask criteria, the pruning engine, reports.

Criteria are plain functions on NumPy arrays (no model needed); the
:class:`ArrayPruner` engine applies them to named arrays of any framework
during training, and the :class:`Pruner` is that engine as a ``fit``
callback; :mod:`~sparsecore.prune.policy` chooses which weights are pruned.
"""

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
)
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
from sparsecore.prune.schedules import (
    ConstantSparsity,
    PolynomialDecay,
    PruningSchedule,
    PruningScheduleWarning,
    schedule_from_config,
)

__all__ = [
    "ArrayPruner",
    "ConstantSparsity",
    "KeepDense",
    "PolynomialDecay",
    "Pruner",
    "PruningPolicy",
    "PruningSchedule",
    "PruningScheduleWarning",
    "PruningSummaries",
    "SparsityReport",
    "SparsityRow",
    "global_magnitude_masks",
    "global_random_masks",
    "is_pruned",
    "is_pruned_m_by_n",
    "keep_count",
    "magnitude_mask",
    "nm_mask",
    "prune_count",
    "random_mask",
    "random_structured_mask",
    "remove",
    "schedule_from_config",
    "sparsity_report",
    "strip_pruning",
    "structured_mask",
]
