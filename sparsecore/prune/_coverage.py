"""Does the schedule fit the run? The warnings a :class:`Pruner` gives at ``fit``.

At the start of ``fit`` the pruner knows the steps the run will take (from
the callback params: epochs, initial_epoch, steps per epoch) and its own step;
:func:`warn_schedule_coverage` compares them with the schedule and warns, with
the step and epoch counts to fix it, when nothing will be pruned, when the run
ends before the final sparsity, or when the final sparsity is never applied.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

from sparsecore.prune.schedules import PruningSchedule

__all__ = ["PruningScheduleWarning", "warn_schedule_coverage"]


class PruningScheduleWarning(UserWarning):
    """The schedule will not do, in this ``fit``, what it was set up to do."""


def warn_schedule_coverage(
    schedule: PruningSchedule,
    params: Mapping[str, Any] | None,
    step: int,
    *,
    nm: bool,
    nm_applied: bool,
) -> None:
    """Warn when this ``fit`` cannot do what `schedule` was set up to do.

    Parameters
    ----------
    schedule : PruningSchedule
    params : dict or None
        The callback params of ``fit`` (``epochs``, ``initial_epoch``,
        ``steps``); nothing is checked without them.
    step : int
        The pruner's step before the run (the run's first step is ``step + 1``).
    nm : bool
        Whether the pruner computes an N:M mask once (at the first step
        ``>= max(begin_step, 1)``) instead of following the schedule.
    nm_applied : bool
        Whether that N:M mask is already computed.

    Warns
    -----
    PruningScheduleWarning
        One warning per problem, attributed to the caller of ``fit``.
    """
    # stacklevel=5 points the warning at the user's ``model.fit(...)`` line:
    # warn <- warn_schedule_coverage <- Pruner.on_train_begin <- CallbackList <- fit.
    params = params or {}
    try:
        n_run = (int(params["epochs"]) - int(params["initial_epoch"])) * int(
            params["steps"]
        )
    except (KeyError, TypeError, ValueError):
        return
    if n_run <= 0:
        return
    s = schedule
    first, last = step + 1, step + n_run
    per_epoch = int(params["steps"])

    def epochs_for(target: int) -> int:
        """The ``epochs`` argument of a ``fit`` that reaches step `target`."""
        return int(params["initial_epoch"]) + math.ceil((target - step) / per_epoch)

    if nm:
        due = max(s.begin_step, 1)
        if not nm_applied and last < due:
            warnings.warn(
                f"fit will run steps {first} to {last}, but the N:M mask is "
                f"computed at step {due} (begin_step={s.begin_step}): "
                f"{last} < {due}, so nothing will be pruned; train for "
                f"epochs >= {epochs_for(due)}",
                PruningScheduleWarning,
                stacklevel=5,
            )
        return
    if s.end_step < 0:  # prunes forever from begin_step: is there a first time?
        due = s.begin_step if s.begin_step >= 1 else s.frequency
        if step < due and last < due:
            warnings.warn(
                f"fit will run steps {first} to {last}, but the schedule first "
                f"prunes at step {due}: {last} < {due}, so nothing will be "
                f"pruned; train for epochs >= {epochs_for(due)}",
                PruningScheduleWarning,
                stacklevel=5,
            )
        return
    last_due = s.last_pruning_step()
    if last_due is None:  # cannot happen: begin_step <= end_step
        return
    if last_due == 0:
        warnings.warn(
            "the schedule prunes only at step 0, which is never a training "
            "step (the k-th batch is step k): nothing will be pruned",
            PruningScheduleWarning,
            stacklevel=5,
        )
        return
    final = float(s.sparsity_at(last_due))
    if step < last_due and last < last_due:
        reached = s.last_pruning_step(last)
        if reached is None or reached < 1:
            outcome = "so nothing will be pruned"
        else:
            outcome = (
                f"so the sparsity reaches {float(s.sparsity_at(reached)):.3g} "
                f"(at step {reached}) instead of {final:.3g}"
            )
        warnings.warn(
            f"fit will run steps {first} to {last} ({n_run} steps), but the "
            f"schedule prunes until step {last_due} (end_step={s.end_step}): "
            f"{last} < {last_due}, {outcome}; train for epochs >= "
            f"{epochs_for(last_due)}, or end the schedule earlier",
            PruningScheduleWarning,
            stacklevel=5,
        )
    end_value = float(s.sparsity_at(s.end_step))
    if last_due != s.end_step and final != end_value and step < last_due:
        warnings.warn(
            f"end_step - begin_step = {s.end_step - s.begin_step} is not a "
            f"multiple of frequency = {s.frequency}: the last pruning step is "
            f"{last_due}, at sparsity {final:.7g}, so the final sparsity "
            f"{end_value:.7g} is never applied",
            PruningScheduleWarning,
            stacklevel=5,
        )
