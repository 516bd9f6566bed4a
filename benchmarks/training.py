"""Training speed: one epoch of the tutorial in sparsecore, sparsecore with
pruning, and PyTorch, measured side by side in one process.

The tutorial epoch: 8000 x 1000 float32 inputs, 1000 -> 1024 -> ReLU -> 1024 ->
ReLU -> 1 MLP, MSE, Adam(1e-3), batch 1024 (8 steps, the last one partial).

Each variant is an asv-style class (``setup`` builds and warms up, ``time_epoch``
only trains). The runner interleaves the variants round by round, sleeps between
runs so that idle BLAS/OpenMP worker threads of one library stop spinning before
the next one starts, and reports medians, ratios and the environment.

Run::

    python benchmarks/training.py                 # 15 rounds of 2 epochs
    python benchmarks/training.py --quick         # 3 rounds, for a smoke test
    python benchmarks/training.py --markdown benchmarks/results/training.md
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from typing import Any

import numpy as np

import sparsecore as sc
from sparsecore._text import format_table
from sparsecore.bench import environment as sparsecore_environment
from sparsecore.runtime import atomic_write

N_SAMPLES, N_FEATURES, BATCH = 8000, 1000, 1024


@functools.lru_cache(maxsize=1)
def tutorial_data() -> tuple[np.ndarray, np.ndarray]:
    """The tutorial data: make_regression, x / max|x| per column, y / max|y|."""
    x, y = sc.data.make_regression(
        n_samples=10000,
        n_features=N_FEATURES,
        n_informative=500,
        noise=3,
        random_state=0,
    )
    x = (x / np.abs(x).max(axis=0))[:N_SAMPLES].astype(np.float32)
    y = (y / np.abs(y).max())[:N_SAMPLES].astype(np.float32)
    return x, y


def tutorial_model(seed: int = 0) -> sc.Sequential:
    model = sc.Sequential(
        [
            sc.Dense(1024, kernel_initializer="he_normal"),
            sc.ReLU(),
            sc.Dense(1024),
            sc.ReLU(),
            sc.Dense(1),
        ],
        input_dim=N_FEATURES,
        seed=seed,
    )
    model.compile(loss="mse", optimizer=sc.Adam(learning_rate=1e-3))
    return model


class SparsecoreEpoch:
    """Dense training in sparsecore; ``pruning`` adds a Pruner callback.

    ``pruning="tutorial"`` is the tutorial's PolynomialDecay (masks recomputed
    every 100 steps); ``pruning="every-epoch"`` recomputes masks every 8 steps,
    i.e. once in every timed epoch (the worst case for the schedule).
    """

    params = [["dense", "tutorial", "every-epoch"]]
    param_names = ["pruning"]

    def setup(self, pruning: str) -> None:
        self.x, self.y = tutorial_data()
        self.model = tutorial_model()
        self.callbacks: list[sc.Callback] = []
        if pruning != "dense":
            freq = 100 if pruning == "tutorial" else 8
            schedule = sc.PolynomialDecay(
                0.0, 0.75, begin_step=0, end_step=100_000, frequency=freq
            )
            self.callbacks = [sc.Pruner(schedule)]
        self.time_epoch(pruning)  # warm up: caches, BLAS threads, first allocations

    def time_epoch(self, pruning: str) -> None:
        self.model.fit(
            self.x,
            self.y,
            epochs=1,
            batch_size=BATCH,
            verbose=0,
            seed=0,
            callbacks=self.callbacks,
        )


class TorchEpoch:
    """The same epoch in PyTorch (CPU), written as a user would."""

    params: list[list[str]] = [["torch"]]
    param_names = ["framework"]

    def setup(self, framework: str) -> None:
        try:
            import torch
        except ImportError:
            raise NotImplementedError("torch is not installed") from None
        self.torch = torch
        torch.manual_seed(0)
        x, y = tutorial_data()
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y).reshape(-1, 1)
        nn = torch.nn
        self.model = nn.Sequential(
            nn.Linear(N_FEATURES, 1024),
            nn.ReLU(),
            nn.Linear(1024, 1024),
            nn.ReLU(),
            nn.Linear(1024, 1),
        )
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, eps=1e-7)
        self.loss = nn.MSELoss()
        self.time_epoch(framework)

    def time_epoch(self, framework: str) -> None:
        torch = self.torch
        order = torch.randperm(self.x.shape[0])
        for start in range(0, self.x.shape[0], BATCH):
            idx = order[start : start + BATCH]
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss(self.model(self.x[idx]), self.y[idx])
            loss.backward()
            self.opt.step()


def environment() -> dict[str, Any]:
    """The environment record of every sparsecore result, plus torch's threads.

    Torch trains here with its own thread pool, which threadpoolctl (the
    record's ``blas threads``) does not see.
    """
    env: dict[str, Any] = sparsecore_environment()
    try:
        import torch

        env["torch threads"] = str(torch.get_num_threads())
    except ImportError:
        pass
    return env


def run(rounds: int, epochs_per_sample: int, pause: float) -> dict[str, list[float]]:
    variants: list[tuple[str, Any, str]] = [
        (f"sparsecore {p}", SparsecoreEpoch(), p) for p in SparsecoreEpoch.params[0]
    ]
    variants.append(("torch", TorchEpoch(), "torch"))
    ready = []
    for label, bench, param in variants:
        try:
            bench.setup(param)
        except NotImplementedError as exc:
            print(f"skip {label}: {exc}")
            continue
        ready.append((label, bench, param))
    times: dict[str, list[float]] = {label: [] for label, _, _ in ready}
    for r in range(rounds):
        order = ready if r % 2 == 0 else ready[::-1]  # alternate to cancel drift
        for label, bench, param in order:
            time.sleep(pause)  # let the other library's worker threads go idle
            t0 = time.perf_counter()
            for _ in range(epochs_per_sample):
                bench.time_epoch(param)
            times[label].append((time.perf_counter() - t0) / epochs_per_sample)
        print(
            f"round {r + 1}/{rounds}: "
            + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items()),
            file=sys.stderr,
        )
    return times


def report(times: dict[str, list[float]], env: dict[str, Any], cmd: str) -> str:
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["sparsecore dense"]
    lines = [
        "# Training: one tutorial epoch (8000 x 1000, batch 1024, Adam)",
        "",
        f"Command: `{cmd}`",
        "",
    ]
    table = [("variant", "median s/epoch", "min", "max", "ratio to sparsecore dense")]
    table += [
        (k, f"{med[k]:.3f}", f"{min(v):.3f}", f"{max(v):.3f}", f"{med[k] / base:.3f}")
        for k, v in times.items()
    ]
    lines += [format_table(table, markdown=True), ""]
    if "torch" in med:
        lines.append(
            f"sparsecore dense / torch: **{base / med['torch']:.3f}x** "
            "(epoch time; lower is better for sparsecore)"
        )
    for p in ("tutorial", "every-epoch"):
        k = f"sparsecore {p}"
        if k in med:
            lines.append(
                f"pruning overhead ({p} schedule): "
                f"**{100 * (med[k] / base - 1):+.1f} %**"
            )
    lines += ["", "Environment:", ""] + [f"- {k}: {v}" for k, v in env.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per sample")
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between runs")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 1 epoch")
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.epochs = 3, 1
    times = run(args.rounds, args.epochs, args.pause)
    cmd = "python benchmarks/training.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    text = report(times, environment(), cmd.strip())
    if args.markdown:  # written first: a closed stdout must not lose the results
        with atomic_write(args.markdown) as f:
            f.write(text.encode())
    print(text)


if __name__ == "__main__":
    main()
