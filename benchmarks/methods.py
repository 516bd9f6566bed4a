"""Reproductions of the pruning methods of sparsecore.prune on MNIST-1D and digits.

Four studies, each writing a Markdown table, a JSON record (with the
environment) and a plot to ``benchmarks/results/``:

- ``lottery``: lottery tickets on MNIST-1D with the MNIST-1D paper notebook's
  network (40 -> 500 -> 500 (residual) -> 10, torch's default initialization,
  Adam lr 2e-2, batch 100, ~1500 steps per round, layer-wise magnitude pruning
  with rewinding to the original initialization) against random tickets
  (``criterion="random"``), the dense accuracy as a line.
- ``init``: SNIP, GraSP, SynFlow and random masks at initialization, 50 % to
  99.9 % sparsity, then training under the fixed mask; accuracy and whether
  the mask disconnected the network (layer collapse).
- ``dynamic``: RigL and SET against a static random mask and gradual
  magnitude pruning (Zhu & Gupta, tfmot's PolynomialDecay) at the same sparsity.
- ``sensitivity``: the per-layer sensitivity of the dense MNIST-1D MLP.

Run (one study at a time on a shared machine)::

    python benchmarks/methods.py lottery
    python benchmarks/methods.py init
    python benchmarks/methods.py dynamic
    python benchmarks/methods.py sensitivity
    python benchmarks/methods.py all --quick      # a smoke test of everything

Accuracies are the test accuracy after the last epoch (no early stopping, no
selection on the test set), mean and standard deviation over seeds.

BLAS runs on one thread (``threadpoolctl``, as ``OPENBLAS_NUM_THREADS=1``): on
the shared 2-core machine of the committed results a training step of the
lottery network took 3 ms with one thread and 21 ms with two (competing with
other jobs), and one thread keeps the floating-point summation order, hence the
numbers, independent of how many cores a machine has.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import sparsecore as sc
from sparsecore._environment import environment
from sparsecore._text import format_seconds, format_table
from sparsecore.prune import (
    SET,
    RigL,
    allocate_masks,
    connected_inputs,
    grasp_masks,
    layer_collapse,
    lottery_ticket,
    sensitivity,
    snip_masks,
    synflow_masks,
    train_with_masks,
)
from sparsecore.runtime.atomic import atomic_write

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


# --------------------------------------------------------------------- network
def torch_init(model: sc.Sequential, seed: int) -> None:
    """torch.nn.Linear's default: kernel and bias ~ U(-1/sqrt(n_in), 1/sqrt(n_in))."""
    rng = np.random.default_rng((seed, 99))
    for layer in model.layers:
        if isinstance(layer, sc.Dense):
            bound = 1.0 / math.sqrt(layer.n_in or 1)
            for a in layer.params.values():
                a[...] = rng.uniform(-bound, bound, a.shape).astype(a.dtype)


def notebook_mlp(seed: int) -> sc.Sequential:
    """The MNIST-1D lottery notebook's MLP, compiled as it trains it."""
    model = sc.Sequential(
        [sc.Dense(500), sc.ReLU(), sc.nn.ResidualDense(500), sc.Dense(10)],
        input_dim=40,
        seed=seed,
    )
    torch_init(model, seed)
    model.compile(
        sc.SparseCategoricalCrossentropy(from_logits=True),
        sc.Adam(2e-2, epsilon=1e-8),  # torch.optim.Adam's defaults but the lr
        metrics=["accuracy"],
    )
    return model


def plain_mlp(n_in: int, hidden: int, seed: int, lr: float = 1e-3) -> sc.Sequential:
    model = sc.Sequential(
        [sc.Dense(hidden), sc.ReLU(), sc.Dense(hidden), sc.ReLU(), sc.Dense(10)],
        input_dim=n_in,
        seed=seed,
    )
    model.compile(
        sc.SparseCategoricalCrossentropy(from_logits=True),
        sc.Adam(lr),
        metrics=["accuracy"],
    )
    return model


DATASETS: dict[str, Callable[[], Any]] = {
    "mnist1d": sc.data.load_mnist1d,
    "digits": sc.data.load_digits,
}
# Per dataset: (hidden width, epochs, batch size) of the init/dynamic studies.
SETTINGS = {"mnist1d": (256, 30, 100), "digits": (256, 30, 32)}


# --------------------------------------------------------------------- helpers
def accuracy(model: sc.Sequential, x: np.ndarray, y: np.ndarray) -> float:
    return float(model.evaluate(x, y, return_dict=True)["accuracy"])


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), (
        statistics.stdev(values) if len(values) > 1 else 0.0
    )


def pct(mean: float, std: float) -> str:
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def write(path: str, text: str) -> None:
    with atomic_write(path) as f:
        f.write(text.encode())
    print(f"wrote {os.path.relpath(path)}")


def env_lines() -> str:
    return "\n".join(f"- {k}: {v}" for k, v in environment().items())


def record(name: str, payload: dict[str, Any], args: argparse.Namespace) -> None:
    payload = {
        "study": name,
        "command": command(args),
        "environment": environment(),
        **payload,
    }
    write(os.path.join(args.out, f"methods_{name}.json"), json.dumps(payload, indent=1))


def command(args: argparse.Namespace) -> str:
    parts = ["python benchmarks/methods.py", args.study]
    if args.seeds != [0, 1]:
        parts.append("--seeds " + " ".join(map(str, args.seeds)))
    if args.quick:
        parts.append("--quick")
    return " ".join(parts)


def plot(name: str, args: argparse.Namespace, **kwargs: Any) -> None:
    try:
        from sparsecore.plots import plot_sparsity_curves
    except ImportError:  # pragma: no cover - matplotlib missing
        return
    path = os.path.join(args.out, f"methods_{name}.png")
    try:
        plot_sparsity_curves(path=path, **kwargs)
    except ImportError as e:
        print(f"no plot: {e}")
        return
    print(f"wrote {os.path.relpath(path)}")


# --------------------------------------------------------------------- (a) lottery
def study_lottery(args: argparse.Namespace) -> None:
    """Lottery tickets vs random tickets on MNIST-1D, the notebook's protocol."""
    (x, y), (xt, yt) = sc.data.load_mnist1d()
    rounds = 4 if args.quick else 14
    epochs = 3 if args.quick else 38  # 38 epochs x 40 steps = 1520 (notebook: 1501)
    rate = 0.3  # of the remaining weights, per round
    sparsities = [1 - (1 - rate) ** r for r in range(1, rounds + 1)]
    acc: dict[str, list[list[float]]] = {"magnitude": [], "random": []}
    start = time.perf_counter()
    for seed in args.seeds:
        for criterion in acc:
            res = lottery_ticket(
                notebook_mlp(seed),
                x,
                y,
                sparsities=sparsities,
                epochs=epochs,
                batch_size=100,
                criterion=criterion,
                seed=seed,
            )
            acc[criterion].append([accuracy(r.model, xt, yt) for r in res.rounds])
            print(
                f"seed {seed} {criterion}: "
                + " ".join(f"{a:.3f}" for a in acc[criterion][-1])
                + f" ({format_seconds(time.perf_counter() - start)})",
                flush=True,
            )
    elapsed = time.perf_counter() - start
    grid = [0.0, *sparsities]
    dense = mean_std([a[0] for a in acc["magnitude"]])
    rows = [["sparsity", "winning ticket (%)", "random ticket (%)", "ticket - dense"]]
    curves: dict[str, list[tuple[float, float, float]]] = {
        "winning ticket": [],
        "random ticket": [],
    }
    summary = []
    for i, s in enumerate(grid):
        t = mean_std([a[i] for a in acc["magnitude"]])
        r = mean_std([a[i] for a in acc["random"]])
        rows.append(
            [f"{100 * s:.1f} %", pct(*t), pct(*r), f"{100 * (t[0] - dense[0]):+.1f}"]
        )
        curves["winning ticket"].append((s, *t))
        curves["random ticket"].append((s, *r))
        summary.append({"sparsity": s, "ticket": t, "random": r})
    table = format_table(rows, markdown=True)
    above = [
        s
        for s, m in zip(grid[1:], summary[1:], strict=True)
        if m["ticket"][0] > dense[0]
    ]
    best = max(summary[1:], key=lambda m: m["ticket"][0])
    verdict = (
        f"Dense: {pct(*dense)} %. Best ticket: {pct(*best['ticket'])} % at "
        f"{100 * best['sparsity']:.1f} % sparsity (random ticket there: "
        f"{pct(*best['random'])} %). Tickets beat the dense mean at "
        f"{len(above)} of {len(grid) - 1} sparsities"
        + (
            f" ({100 * min(above):.1f} % to {100 * max(above):.1f} %)."
            if above
            else "."
        )
        + f" At {100 * grid[-1]:.1f} %: ticket {pct(*summary[-1]['ticket'])} %, random "
        f"{pct(*summary[-1]['random'])} %."
    )
    text = f"""# Lottery tickets on MNIST-1D (the MNIST-1D notebook's MLP and Adam)

Command: `{command(args)}` ({format_seconds(elapsed)} on the machine below)

Network 40 -> 500 -> 500 (residual: h + relu(W h + b)) -> 10, torch's default
initialization, Adam(lr 2e-2, eps 1e-8), batch 100, {epochs} epochs
({epochs * 40} steps) per round; round r prunes each layer (its kernel; biases
are not pruned) to 1 - 0.7^r by magnitude, nested, and rewinds to the original
initialization and a fresh optimizer. Random ticket: the same, with random
masks. Test accuracy (1000 samples) after the last epoch of each round; mean ±
std over seeds {args.seeds}.

{table}

{verdict}

Environment:

{env_lines()}
"""
    write(os.path.join(args.out, "methods_lottery.md"), text)
    record("lottery", {"sparsities": grid, "accuracy": acc, "seconds": elapsed}, args)
    plot(
        "lottery",
        args,
        curves=curves,
        baseline=dense[0],
        title="MNIST-1D lottery tickets (notebook MLP, Adam 2e-2)",
    )


# --------------------------------------------------------------------- (b) init
def random_masks(model: sc.Sequential, sparsity: float, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng((seed, 11))
    live = model.weights()
    scores = {n: rng.random(live[n].shape) for n in live if n.endswith("/kernel")}
    return allocate_masks(scores, sparsity, "global")


def score_batch(x: np.ndarray, y: np.ndarray, per_class: int = 10) -> tuple[Any, Any]:
    """The first `per_class` samples of every class (GraSP's batch; SNIP's too)."""
    idx = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in np.unique(y)])
    return x[idx], y[idx]


def study_init(args: argparse.Namespace) -> None:
    """SNIP vs GraSP vs SynFlow vs random at initialization, 50 % to 99.9 %."""
    grid = (
        [0.5, 0.9, 0.99]
        if args.quick
        else [0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999]
    )
    methods = ("random", "snip", "grasp", "synflow")
    results: dict[str, Any] = {}
    start = time.perf_counter()
    text_parts = []
    for dataset, load in DATASETS.items():
        (x, y), (xt, yt) = load()
        hidden, epochs, batch = SETTINGS[dataset]
        epochs = 2 if args.quick else epochs
        xb, yb = score_batch(x, y)
        acc = {(m, s): [] for m in methods for s in grid}
        collapsed = {(m, s): 0 for m in methods for s in grid}
        inputs = {(m, s): [] for m in methods for s in grid}
        dense = []
        for seed in args.seeds:
            model = plain_mlp(x.shape[1], hidden, seed)
            net = sc.prune.clone_model(model)
            net.fit(x, y, epochs=epochs, batch_size=batch, verbose=0, seed=seed)
            dense.append(accuracy(net, xt, yt))
            for s in grid:
                for m in methods:
                    if m == "random":
                        masks = random_masks(model, s, seed)
                    elif m == "snip":
                        masks = snip_masks(model, xb, yb, s)
                    elif m == "grasp":
                        masks = grasp_masks(model, xb, yb, s)
                    else:
                        masks = synflow_masks(model, s)
                    collapsed[m, s] += int(layer_collapse(masks))
                    inputs[m, s].append(float(connected_inputs(masks).mean()))
                    run = train_with_masks(
                        model, masks, x, y, epochs=epochs, batch_size=batch, seed=seed
                    )
                    acc[m, s].append(accuracy(run.model, xt, yt))
                print(
                    f"{dataset} seed {seed} {100 * s:g} %: "
                    + " ".join(f"{m} {acc[m, s][-1]:.3f}" for m in methods)
                    + f" ({format_seconds(time.perf_counter() - start)})",
                    flush=True,
                )
        d = mean_std(dense)
        rows = [["sparsity", *methods]]
        curves: dict[str, list[tuple[float, float, float]]] = {m: [] for m in methods}
        marks: dict[str, list[float]] = {m: [] for m in methods}
        for s in grid:
            row = [f"{100 * s:g} %"]
            for m in methods:
                ms = mean_std(acc[m, s])
                cell = pct(*ms)
                if collapsed[m, s]:
                    cell += f" (collapsed {collapsed[m, s]}/{len(args.seeds)})"
                    marks[m].append(s)
                row.append(cell)
                curves[m].append((s, *ms))
            rows.append(row)
        results[dataset] = {
            "dense": dense,
            "accuracy": {f"{m}@{s}": v for (m, s), v in acc.items()},
            "collapsed": {f"{m}@{s}": v for (m, s), v in collapsed.items()},
            "connected_inputs": {f"{m}@{s}": v for (m, s), v in inputs.items()},
        }
        text_parts.append(
            f"## {dataset}: MLP {x.shape[1]} -> {hidden} -> {hidden} -> 10, Adam 1e-3, "
            f"batch {batch}, {epochs} epochs; dense {pct(*d)} %\n\n"
            + format_table(rows, markdown=True)
        )
        plot(
            f"init_{dataset}",
            args,
            curves=curves,
            baseline=d[0],
            marks=marks,
            title=f"{dataset}: pruning at initialization (x: a layer collapsed)",
        )
    elapsed = time.perf_counter() - start
    body = "\n\n".join(text_parts)
    text = f"""# Pruning at initialization: SNIP, GraSP, SynFlow, random

Command: `{command(args)}` ({format_seconds(elapsed)} on the machine below)

Each mask is computed on the freshly initialised network (SNIP and GraSP on
10 training samples per class, GraSP with T = 200; SynFlow data-free with 100
iterations; random: uniform over all kernel entries), all with a global
ranking, then the network trains from that initialization with the mask fixed.
Test accuracy after the last epoch, mean ± std over seeds {args.seeds}, in %.
"collapsed k/n": in k of the n seeds the mask left no path from the input to
the output (`sc.prune.layer_collapse`), so the network predicts a constant.

{body}

Environment:

{env_lines()}
"""
    write(os.path.join(args.out, "methods_init.md"), text)
    record("init", {"sparsities": grid, "results": results, "seconds": elapsed}, args)


# --------------------------------------------------------------------- (c) dynamic
def gradual_schedule(total: int, steps_per_epoch: int, sparsity: float) -> Any:
    """Zhu & Gupta: 0 at 10 % of training to `sparsity` at 70 %, twice per epoch."""
    frequency = max(1, steps_per_epoch // 2)
    begin = max(1, round(0.1 * total))
    n = max(1, math.floor((0.7 * total - begin) / frequency))
    return sc.PolynomialDecay(
        0.0, sparsity, begin, begin + n * frequency, frequency=frequency
    )


def study_dynamic(args: argparse.Namespace) -> None:
    """RigL and SET vs a static random mask vs gradual magnitude pruning."""
    grid = [0.9] if args.quick else [0.9, 0.98]
    methods = ("static random", "gradual magnitude", "SET", "RigL", "RigL (ERK)")
    start = time.perf_counter()
    results: dict[str, Any] = {}
    text_parts = []
    for dataset, load in DATASETS.items():
        (x, y), (xt, yt) = load()
        hidden, epochs, batch = SETTINGS[dataset]
        epochs = 2 if args.quick else epochs
        steps = math.ceil(x.shape[0] / batch)
        acc = {(m, s): [] for m in methods for s in grid}
        dense = []
        for seed in args.seeds:
            model = plain_mlp(x.shape[1], hidden, seed)
            net = sc.prune.clone_model(model)
            net.fit(x, y, epochs=epochs, batch_size=batch, verbose=0, seed=seed)
            dense.append(accuracy(net, xt, yt))
            for s in grid:
                for m in methods:
                    net = sc.prune.clone_model(model)
                    if m == "static random":
                        masks = allocate_masks(
                            {
                                n: np.random.default_rng((seed, 5)).random(w.shape)
                                for n, w in model.weights().items()
                                if n.endswith("/kernel")
                            },
                            s,
                            "uniform",
                        )
                        net = train_with_masks(
                            model,
                            masks,
                            x,
                            y,
                            epochs=epochs,
                            batch_size=batch,
                            seed=seed,
                        ).model
                    else:
                        if m == "gradual magnitude":
                            cb: Any = sc.Pruner(
                                gradual_schedule(epochs * steps, steps, s)
                            )
                        elif m == "SET":
                            cb = SET(s, update_frequency=100, seed=seed)
                        elif m == "RigL":
                            cb = RigL(s, update_frequency=100, seed=seed)
                        else:
                            cb = RigL(
                                s, update_frequency=100, distribution="erk", seed=seed
                            )
                        net.fit(
                            x,
                            y,
                            epochs=epochs,
                            batch_size=batch,
                            callbacks=[cb],
                            verbose=0,
                            seed=seed,
                        )
                    acc[m, s].append(accuracy(net, xt, yt))
                print(
                    f"{dataset} seed {seed} {100 * s:g} %: "
                    + " ".join(f"{m} {acc[m, s][-1]:.3f}" for m in methods)
                    + f" ({format_seconds(time.perf_counter() - start)})",
                    flush=True,
                )
        d = mean_std(dense)
        rows = [["method", *[f"{100 * s:g} %" for s in grid]]]
        for m in methods:
            rows.append([m, *[pct(*mean_std(acc[m, s])) for s in grid]])
        results[dataset] = {
            "dense": dense,
            "accuracy": {f"{m}@{s}": v for (m, s), v in acc.items()},
        }
        text_parts.append(
            f"## {dataset}: MLP {x.shape[1]} -> {hidden} -> {hidden} -> 10, Adam 1e-3, "
            f"batch {batch}, {epochs} epochs ({epochs * steps} steps); "
            f"dense {pct(*d)} %\n\n" + format_table(rows, markdown=True)
        )
    elapsed = time.perf_counter() - start
    body = "\n\n".join(text_parts)
    text = f"""# Dynamic sparse training: RigL and SET vs static and gradual pruning

Command: `{command(args)}` ({format_seconds(elapsed)} on the machine below)

Same training budget for every method. Static random: a random mask per layer
at initialization, fixed. Gradual magnitude: `sc.Pruner` with PolynomialDecay
from 0 at 10 % of the steps to the target at 70 %, pruning twice per epoch.
SET and RigL: `sc.prune.SET` / `sc.prune.RigL` from a random mask, update every
100 steps until 75 % of training, drop fraction 0.3 (RigL: cosine-decayed);
uniform per-layer sparsity unless ERK. Test accuracy after the last epoch,
mean ± std over seeds {args.seeds}, in %.

{body}

Environment:

{env_lines()}
"""
    write(os.path.join(args.out, "methods_dynamic.md"), text)
    record(
        "dynamic", {"sparsities": grid, "results": results, "seconds": elapsed}, args
    )


# --------------------------------------------------------------------- sensitivity
def study_sensitivity(args: argparse.Namespace) -> None:
    """Per-layer sensitivity of the trained dense MNIST-1D MLP (no retraining)."""
    (x, y), (xt, yt) = sc.data.load_mnist1d()
    hidden, epochs, batch = SETTINGS["mnist1d"]
    epochs = 2 if args.quick else epochs
    start = time.perf_counter()
    model = plain_mlp(40, hidden, args.seeds[0])
    model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0, seed=args.seeds[0])
    grid = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99)
    res = sensitivity(model, xt, yt, grid)
    elapsed = time.perf_counter() - start
    text = f"""# Sensitivity of the MNIST-1D MLP, one layer pruned at a time

Command: `{command(args)}` ({format_seconds(elapsed)} on the machine below)

MLP 40 -> {hidden} -> {hidden} -> 10 trained {epochs} epochs (Adam 1e-3, batch
{batch}, seed {args.seeds[0]}); each kernel in turn pruned by magnitude to each
sparsity, the others dense, no retraining; test accuracy (`sc.prune.sensitivity`).

{res.table(markdown=True)}

Highest sparsity within 1 point of the dense accuracy, per layer:
{", ".join(f"{k}: {100 * v:g} %" for k, v in res.max_sparsity(0.01).items())}.

Environment:

{env_lines()}
"""
    write(os.path.join(args.out, "methods_sensitivity.md"), text)
    record("sensitivity", {"result": res.to_dict(), "seconds": elapsed}, args)
    try:
        from sparsecore.plots import plot_sensitivity

        path = os.path.join(args.out, "methods_sensitivity.png")
        plot_sensitivity(res, path)
        print(f"wrote {os.path.relpath(path)}")
    except ImportError as e:
        print(f"no plot: {e}")


STUDIES = {
    "lottery": study_lottery,
    "init": study_init,
    "dynamic": study_dynamic,
    "sensitivity": study_sensitivity,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", choices=[*STUDIES, "all"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--quick", action="store_true", help="tiny runs, a smoke test")
    parser.add_argument("--out", default=RESULTS, help="output folder")
    args = parser.parse_args(argv)
    if args.quick and args.out == RESULTS:
        args.out = os.path.join(tempfile.gettempdir(), "sparsecore-methods-quick")
    os.makedirs(args.out, exist_ok=True)
    names = list(STUDIES) if args.study == "all" else [args.study]
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # then OPENBLAS_NUM_THREADS=1 in the environment does it
        limits: Any = contextlib.nullcontext()
    else:
        limits = threadpool_limits(limits=1, user_api="blas")
    with limits:
        for name in names:
            args.study = name
            STUDIES[name](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
