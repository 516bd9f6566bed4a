"""Plots of the tutorial experiment, the benchmarks, sweeps and pruning methods.

matplotlib is optional (``pip install "sparsecore[plot]"``) and imported only
when a plot is drawn. Figures are drawn with :class:`matplotlib.figure.Figure`
directly, without ``pyplot``, so no GUI backend or global state is involved.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "plot_bench",
    "plot_experiment",
    "plot_schedule",
    "plot_sensitivity",
    "plot_sparsity_curves",
    "plot_sweep",
    "require_matplotlib",
]

_INSTALL = 'pip install "sparsecore[plot]"'


def require_matplotlib(what: str = "plotting") -> Any:
    """Import and return matplotlib, or raise a one-line ImportError.

    Parameters
    ----------
    what : str, default='plotting'
        What needs it, for the message (e.g. ``"--plot"``).

    Raises
    ------
    ImportError
        ``"<what> needs matplotlib, which is not installed; install it with:
        pip install "sparsecore[plot]""``.
    """
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            f"{what} needs matplotlib, which is not installed; install it with: "
            f"{_INSTALL}"
        ) from None
    return matplotlib


def _figure(n_panels: int, width: float) -> tuple[Any, list[Any]]:
    require_matplotlib()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, 4.2), layout="constrained")
    axes = fig.subplots(1, n_panels)
    return fig, list(np.atleast_1d(axes))


def _save(fig: Any, path: str | os.PathLike[str]) -> None:
    """Save atomically (format from the extension, PNG by default)."""
    from sparsecore.runtime.atomic import atomic_write

    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    with atomic_write(path) as f:
        fig.savefig(f, format=ext, dpi=120)


def _draw_schedule(
    ax: Any,
    schedule: Any,
    steps: np.ndarray,
    steps_per_epoch: float,
    color: str,
    ms: float,
    labels: tuple[str, str],
) -> None:
    """The curve s(t) over `steps` (x axis in epochs) and a dot at each pruning step."""
    ax.plot(
        steps / steps_per_epoch,
        schedule.sparsity_at(steps),
        color=color,
        label=labels[0],
    )
    pruning = steps[schedule.should_prune_at(steps)]
    ax.plot(
        pruning / steps_per_epoch,
        schedule.sparsity_at(pruning),
        ".",
        color=color,
        ms=ms,
        label=labels[1],
    )


def plot_experiment(result: Any, path: str | os.PathLike[str]) -> None:
    """Draw the tutorial's plots of an :class:`~sparsecore.experiment.ExperimentResult`.

    Left: loss and val_loss per epoch of the dense and the pruned run (log
    scale), as the tutorial showed. Right: the schedule's sparsity per step
    and the sparsity the pruned run reached per epoch.

    Parameters
    ----------
    result : ExperimentResult or its ``to_dict()``
    path : str or path-like
        Output file; the extension picks the format (``.png``, ``.svg``, ...).
    """
    d: Mapping[str, Any] = result if isinstance(result, Mapping) else result.to_dict()
    fig, (ax_loss, ax_sp) = _figure(2, 11.0)
    epochs = np.arange(1, len(d["dense"]["loss"]) + 1)
    for run, color in (("dense", "tab:blue"), ("pruned", "tab:orange")):
        ax_loss.plot(epochs, d[run]["loss"], color=color, label=f"{run} loss")
        ax_loss.plot(
            epochs, d[run]["val_loss"], color=color, ls="--", label=f"{run} val_loss"
        )
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("MSE")
    ax_loss.set_title("dense vs pruned: loss")
    ax_loss.legend()

    from sparsecore.prune.schedules import schedule_from_config

    sched = d["schedule"]
    schedule = schedule_from_config(sched["config"])
    per_epoch = sched["steps_per_epoch"]
    end = max(sched["total_steps"], schedule.end_step)
    steps = np.arange(0, end + 1)
    _draw_schedule(
        ax_sp,
        schedule,
        steps,
        per_epoch,
        "tab:gray",
        3,
        ("schedule s(t)", "pruning steps"),
    )
    achieved = d["pruned"]["sparsity"] or []
    ax_sp.plot(
        np.arange(1, len(achieved) + 1),
        achieved,
        color="tab:orange",
        lw=2,
        label="reached (end of epoch)",
    )
    ax_sp.axvline(
        sched["total_steps"] / per_epoch,
        color="tab:red",
        ls=":",
        label="end of training",
    )
    ax_sp.set_xlabel("epoch")
    ax_sp.set_ylabel("sparsity")
    ax_sp.set_ylim(0, 1)
    ax_sp.set_title("PolynomialDecay schedule and reached sparsity")
    ax_sp.legend(loc="lower right")
    _save(fig, path)


def plot_bench(
    rows: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    methods: Sequence[str] = ("sc_csr", "sc_auto"),
) -> None:
    """Plot speedup over dense against sparsity: one line per batch size.

    Parameters
    ----------
    rows : sequence of dict
        Measurements as returned by
        :func:`sparsecore.bench.run_inference_sweep`: keys ``sparsity``,
        ``batch``, ``speedup`` and, optionally, ``method``, ``dtype`` and
        ``structured`` (structured rows are left out).
    path : str or path-like
        Output file.
    methods : sequence of str, default=('sc_csr', 'sc_auto')
        One panel per method present in `rows` (rows without a ``method``
        key make a single panel).
    """
    rows = [r for r in rows if not r.get("structured", False)]
    present = [m for m in methods if any(r.get("method") == m for r in rows)]
    panels: list[str | None] = list(present) if present else [None]
    fig, axes = _figure(len(panels), 6.0 * len(panels))
    dtypes = sorted({str(r.get("dtype", "")) for r in rows})
    for ax, method in zip(axes, panels, strict=True):
        lines: dict[tuple[int, str], list[tuple[float, float]]] = {}
        for r in rows:
            if method is not None and r.get("method") != method:
                continue
            key = (int(r["batch"]), str(r.get("dtype", "")))
            lines.setdefault(key, []).append(
                (float(r["sparsity"]), float(r["speedup"]))
            )
        for i, (batch, dtype) in enumerate(sorted(lines)):
            pts = sorted(lines[(batch, dtype)])
            label = f"batch {batch}" + (f" {dtype}" if len(dtypes) > 1 else "")
            ls = "-" if dtype == dtypes[0] else "--"
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                "o",
                ls=ls,
                color=f"C{i % 10}",
                label=label,
            )
        ax.axhline(1.0, color="black", lw=0.8, ls=":", label="dense")
        ax.set_yscale("log")
        ax.set_xlabel("sparsity")
        ax.set_ylabel("speedup over numpy dense")
        ax.set_title(f"{method or 'sparse'} vs dense inference")
        ax.legend()
    _save(fig, path)


def plot_schedule(
    schedule: Any,
    path: str | os.PathLike[str],
    *,
    steps_per_epoch: int = 1,
    marks: Mapping[str, int] | None = None,
    until: int | None = None,
) -> None:
    """Plot a pruning schedule's sparsity against training time.

    Parameters
    ----------
    schedule : PruningSchedule
        E.g. ``PolynomialDecay(0.0, 0.75, begin_step=1000, end_step=5000)``.
    path : str or path-like
        Output file.
    steps_per_epoch : int, default=1
        With 1 the x axis is in steps; otherwise in epochs.
    marks : dict of str to int, optional
        Label -> step of vertical lines (e.g. ``{"200 epochs": 1600}``), each
        annotated with the sparsity reached by then.
    until : int, optional
        Last step drawn; default 30 % past the last mark or `end_step`.
    """
    marks = dict(marks or {})
    last = max([schedule.end_step, *marks.values()])
    until = until if until is not None else int(last * 1.3) + 1
    steps = np.arange(0, until + 1)
    scale = float(steps_per_epoch)
    fig, (ax,) = _figure(1, 7.0)
    labels = ("sparsity s(t)", f"pruning steps (every {schedule.frequency})")
    _draw_schedule(ax, schedule, steps, scale, "tab:blue", 4, labels)
    for i, (label, step) in enumerate(marks.items()):
        done = schedule.last_pruning_step(step)
        reached = 0.0 if done is None or done < 1 else float(schedule.sparsity_at(done))
        color = f"C{(i + 1) % 10}"
        ax.axvline(step / scale, color=color, ls=":")
        ax.annotate(
            f"{label}: {reached:.3g}",
            (step / scale, reached),
            xytext=(5, -15),
            textcoords="offset points",
            color=color,
        )
    ax.set_xlabel("epoch" if steps_per_epoch != 1 else "step")
    ax.set_ylabel("sparsity")
    ax.set_ylim(0, 1)
    ax.set_title(textwrap.fill(repr(schedule), 70), fontsize=9)
    ax.legend(loc="upper left")
    _save(fig, path)


def plot_sensitivity(result: Any, path: str | os.PathLike[str]) -> None:
    """Plot a sensitivity analysis: the metric against sparsity, one line per layer.

    Parameters
    ----------
    result : SensitivityResult or its ``to_dict()``
        From :func:`sparsecore.prune.sensitivity`.
    path : str or path-like
        Output file; the extension picks the format.
    """
    d: Mapping[str, Any] = result if isinstance(result, Mapping) else result.to_dict()
    fig, (ax,) = _figure(1, 7.0)
    for i, (layer, vals) in enumerate(d["values"].items()):
        ax.plot(d["sparsities"], vals, "o-", color=f"C{i % 10}", label=layer)
    ax.axhline(d["baseline"], color="black", ls=":", lw=0.8, label="unpruned")
    ax.set_xlabel("sparsity of the one pruned layer")
    ax.set_ylabel(d["metric"])
    ax.set_title(f"sensitivity per layer ({d.get('criterion', 'magnitude')})")
    ax.legend()
    _save(fig, path)


def plot_sparsity_curves(
    curves: Mapping[str, Sequence[tuple[float, float, float]]],
    path: str | os.PathLike[str],
    *,
    baseline: float | None = None,
    ylabel: str = "test accuracy",
    title: str = "",
    marks: Mapping[str, Sequence[float]] | None = None,
) -> None:
    """Plot a metric against sparsity for several methods, density on a log axis.

    Parameters
    ----------
    curves : dict of str to list of (sparsity, mean, std)
        One line per method; the std is drawn as a band (0 for one seed).
    path : str or path-like
        Output file.
    baseline : float, optional
        A horizontal line (the dense model).
    ylabel, title : str
    marks : dict of str to list of float, optional
        Per method, sparsities to mark with a cross (e.g. where a layer
        collapsed).

    Notes
    -----
    The x axis is the density ``1 - sparsity`` on a reversed log scale, so
    50 %, 90 %, 99 % and 99.9 % sparsity are evenly spaced.
    """
    fig, (ax,) = _figure(1, 7.5)
    for i, (name, pts) in enumerate(curves.items()):
        pts = sorted(pts)
        dens = np.array([1.0 - p[0] for p in pts])
        mean = np.array([p[1] for p in pts])
        std = np.array([p[2] for p in pts])
        color = f"C{i % 10}"
        ax.plot(dens, mean, "o-", color=color, ms=3, label=name)
        if np.any(std > 0):
            ax.fill_between(dens, mean - std, mean + std, color=color, alpha=0.2)
        for s in (marks or {}).get(name, ()):
            j = int(np.argmin(np.abs(dens - (1.0 - s))))
            ax.plot(dens[j], mean[j], "x", color=color, ms=9, mew=2)
    if baseline is not None:
        ax.axhline(baseline, color="black", ls="--", lw=1, label="dense")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ticks = [1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.001]
    lo = min(1.0 - p[0] for pts in curves.values() for p in pts) if curves else 0.1
    ticks = [t for t in ticks if t >= lo * 0.99]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{100 * (1 - t):g} %" for t in ticks])
    ax.set_xlabel("sparsity (density on a log scale)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    _save(fig, path)


def plot_sweep(
    summary: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    metric: str = "auto",
    log_scale: bool = False,
    title: str | None = None,
) -> None:
    """Accuracy (or loss) against sparsity: one line per method, mean +- std over seeds.

    The ShrinkBench figure (Blalock et al. 2020): the dense baseline is a
    horizontal line with its band, every method a curve with a band of one
    standard deviation over seeds.

    Parameters
    ----------
    summary : sequence of dict
        :func:`sparsecore.sweep.summarize` output (keys ``method``,
        ``sparsity``, ``test_accuracy``/``test_loss`` and their ``_std``).
    path : str or path-like
        Output file; the extension picks the format.
    metric : {'auto', 'accuracy', 'loss'}, default='auto'
        ``'auto'``: accuracy when the rows have it (classification), else loss.
    log_scale : bool, default=False
        Put the fraction of weights *kept* on a log axis (sparsity 0.9, 0.99,
        0.999 equally spaced), labelled by sparsity.
    title : str, optional
    """
    rows = list(summary)
    if metric == "auto":
        has_acc = any(r.get("test_accuracy") is not None for r in rows)
        metric = "accuracy" if has_acc else "loss"
    if metric not in ("accuracy", "loss"):
        raise ValueError(
            f"metric must be one of ['accuracy', 'auto', 'loss']; got {metric!r}"
        )
    key = f"test_{metric}"
    fig, (ax,) = _figure(1, 7.0)
    methods = sorted({r["method"] for r in rows if r["method"] != "dense"})
    for i, method in enumerate(methods):
        pts = sorted(
            (r["sparsity"], r[key], r[key + "_std"] or 0.0)
            for r in rows
            if r["method"] == method and r[key] is not None
        )
        if not pts:
            continue
        s, m, sd = (np.array(v, dtype=float) for v in zip(*pts, strict=True))
        x = 1.0 - s if log_scale else s
        ax.plot(x, m, "o-", color=f"C{i % 10}", label=method)
        ax.fill_between(x, m - sd, m + sd, color=f"C{i % 10}", alpha=0.2)
    dense = [r for r in rows if r["method"] == "dense" and r[key] is not None]
    if dense:
        base, spread = float(dense[0][key]), float(dense[0][key + "_std"] or 0.0)
        ax.axhline(base, color="black", ls="--", lw=1, label="dense")
        ax.axhspan(base - spread, base + spread, color="black", alpha=0.08)
    if log_scale:
        ax.set_xscale("log")
        ax.invert_xaxis()
        ticks = sorted({1.0 - r["sparsity"] for r in rows if r["method"] != "dense"})
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{1 - t:.4g}" for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("sparsity (log scale of the fraction kept)")
    else:
        ax.set_xlabel("sparsity")
    ax.set_ylabel(f"test {metric}")
    ax.set_title(title or f"test {metric} vs sparsity (mean and std over seeds)")
    ax.legend()
    _save(fig, path)
