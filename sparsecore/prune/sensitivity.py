"""Sensitivity analysis: how much each layer can be pruned on its own.

:func:`sensitivity` prunes one layer at a time, at each of several
sparsities, leaves every other layer dense, and evaluates the model without
retraining (as NNI's ``SensitivityAnalysis`` and distiller's
``sensitivity_analysis``). Layers whose metric holds up at high sparsity are
robust and can take a larger share of the pruning; the table guides a
per-layer allocation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sparsecore._checks import (
    validate_choice,
    validate_float,
    validate_seed,
    validate_sparsity,
)
from sparsecore._text import format_table
from sparsecore.nn.metrics import metric_direction
from sparsecore.nn.model import Sequential
from sparsecore.prune.clone import clone_model, prepare_data, weight_names
from sparsecore.prune.criteria import magnitude_mask, random_mask

__all__ = ["SensitivityResult", "sensitivity"]

_CRITERIA = ("magnitude", "random")


@dataclass
class SensitivityResult:
    """The metric of the model with one layer pruned, per layer and sparsity.

    Attributes
    ----------
    metric : str
        The key evaluated (``"accuracy"``, ``"loss"``, ...).
    baseline : float
        The metric of the unpruned model.
    sparsities : list of float
    values : dict of str to list of float
        ``values[layer][i]``: the metric with only `layer` pruned to
        ``sparsities[i]`` (by `criterion`), every other weight unchanged.
    criterion : str
    """

    metric: str
    baseline: float
    sparsities: list[float]
    values: dict[str, list[float]] = field(default_factory=dict)
    criterion: str = "magnitude"

    @property
    def layers(self) -> list[str]:
        """The pruned weight names, in model order."""
        return list(self.values)

    def max_sparsity(self, tolerance: float) -> dict[str, float]:
        """Per layer, the highest sparsity whose metric stays within `tolerance`.

        Parameters
        ----------
        tolerance : float
            Allowed degradation from the baseline, in [0, inf) (in the metric's
            units: 0.01 is one accuracy point).

        Returns
        -------
        dict of str to float
            0.0 when even the lowest sparsity degrades more. Higher is better
            for accuracies, lower for losses and errors.
        """
        tolerance = validate_float("tolerance", tolerance, 0.0)
        lower = metric_direction(self.metric) == "min"
        out = {}
        for layer, vals in self.values.items():
            ok = [
                s
                for s, v in zip(self.sparsities, vals, strict=True)
                if (
                    v <= self.baseline + tolerance
                    if lower
                    else v >= self.baseline - tolerance
                )
            ]
            out[layer] = max(ok, default=0.0)
        return out

    def table(self, markdown: bool = False, digits: int = 4) -> str:
        """One row per layer, one column per sparsity (via ``format_table``)."""
        header = ["layer", "dense"] + [f"{s:g}" for s in self.sparsities]
        rows = [header]
        for layer, vals in self.values.items():
            rows.append(
                [layer, f"{self.baseline:.{digits}g}"]
                + [f"{v:.{digits}g}" for v in vals]
            )
        text = format_table(rows, markdown=markdown)
        return f"{self.metric} with one layer pruned ({self.criterion}):\n\n{text}"

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-serialisable data."""
        return {
            "metric": self.metric,
            "baseline": self.baseline,
            "sparsities": list(self.sparsities),
            "values": {k: list(v) for k, v in self.values.items()},
            "criterion": self.criterion,
        }

    def __str__(self) -> str:
        return self.table()


def sensitivity(
    model: Sequential,
    x: Any,
    y: Any,
    sparsities: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    *,
    metric: str | None = None,
    criterion: str = "magnitude",
    weights: Sequence[str] | None = None,
    seed: int = 0,
) -> SensitivityResult:
    """Prune one layer at a time and evaluate: the per-layer sensitivity table.

    Parameters
    ----------
    model : Sequential
        Compiled (with the metric of interest in ``compile(metrics=...)``);
        not modified.
    x : ndarray of shape (n_samples, input_dim)
        Evaluation data (a validation set).
    y : ndarray
        Targets as ``evaluate`` takes them.
    sparsities : sequence of float, default=(0.1, ..., 0.9)
        Each in [0, 1).
    metric : str, optional
        Key of ``model.evaluate(x, y, return_dict=True)``; default the first
        compiled metric, else ``"loss"``.
    criterion : {'magnitude', 'random'}, default='magnitude'
        How the one layer is pruned (:func:`~sparsecore.prune.magnitude_mask`
        or :func:`~sparsecore.prune.random_mask`).
    weights : list of str, optional
        The layers (weight names) to analyse; default every kernel.
    seed : int, default=0
        Seeds ``criterion='random'``: layer ``i`` at sparsity ``j`` uses
        ``default_rng((seed, i, j))``.

    Returns
    -------
    SensitivityResult
        ``.table()`` prints it; ``sparsecore.plots.plot_sensitivity`` draws it.

    Notes
    -----
    For layer ``l`` and sparsity ``s`` the model is evaluated with
    ``W_l <- W_l * mask(W_l, s)`` and every other parameter unchanged:
    ``len(weights) * len(sparsities)`` evaluations, no training.

    References
    ----------
    Han, Pool, Tran & Dally (2015), "Learning both Weights and Connections for
    Efficient Neural Networks", NeurIPS, section 3 (per-layer sensitivity);
    NNI ``SensitivityAnalysis``; distiller ``sensitivity_analysis``.
    """
    work = clone_model(model)
    names = weight_names(work, weights)
    criterion = validate_choice("criterion", criterion, _CRITERIA)
    seed_ = validate_seed("seed", seed) or 0
    grid = [validate_sparsity(f"sparsities[{i}]", s) for i, s in enumerate(sparsities)]
    if not grid:
        raise ValueError("sparsities must hold at least one sparsity; got []")
    xp, yp = prepare_data(work, x, y)
    keys = ["loss", *work.metrics]
    metric = metric if metric is not None else keys[min(1, len(keys) - 1)]
    validate_choice("metric", metric, keys)
    baseline = work.evaluate(xp, yp, return_dict=True)[metric]
    result = SensitivityResult(metric, baseline, grid, criterion=criterion)
    live = work.weights()
    for i, name in enumerate(names):
        original = live[name].copy()
        vals = []
        for j, s in enumerate(grid):
            if criterion == "magnitude":
                mask = magnitude_mask(original, s)
            else:
                mask = random_mask(original, s, np.random.default_rng((seed_, i, j)))
            np.multiply(original, mask, out=live[name])
            vals.append(work.evaluate(xp, yp, return_dict=True)[metric])
        live[name][...] = original
        result.values[name] = vals
    return result
