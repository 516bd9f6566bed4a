"""``sparsecore sweep``: a pruning study (methods x sparsities x seeds) as one command.

The work is :func:`sparsecore.sweep.run`; this module maps the command line
(or a TOML file) onto a :class:`~sparsecore.sweep.Grid`, chooses the executor
(a local process pool, or a Dask cluster with ``--scheduler``), shows one
progress line, and prints the summary table (and draws the plot).
"""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import Any

from sparsecore.cli._common import (
    CLIError,
    check_output_path,
    parse_int_at_least,
    parse_list,
    parse_sparsity,
    say,
)
from sparsecore.cli._progress import ProgressLine

__all__ = ["EXAMPLES", "HELP", "NAME", "add_arguments", "run"]

NAME = "sweep"
HELP = (
    "Run a pruning study: every method x sparsity x seed on one dataset, on all "
    "local cores (or a Dask cluster), resumable; writes one JSON per cell and tables."
)
EXAMPLES = """\
examples:
  sparsecore sweep --dataset mnist1d --methods magnitude,random \\
      --sparsities 0.5,0.8,0.9,0.95,0.98 --seeds 0,1,2 --epochs 30 --out study/
  sparsecore sweep --config study.toml --plot study.png      # the same grid in a file
  sparsecore sweep ... --scheduler local                      # a Dask LocalCluster
  sparsecore sweep ... --scheduler tcp://10.0.0.5:8786        # a running Dask cluster

Re-running the same command skips the finished cells and runs the failed ones;
a changed setting is a new cell. A TOML file holds the same keys as the grid:
dataset, methods, sparsities, seeds, epochs, batch_size, learning_rate, hidden,
dense (and [options.<method>] tables); command-line flags override it.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``sweep`` options to its sub-parser."""
    from sparsecore.sweep import DATASETS

    p.add_argument(
        "--config", metavar="FILE.toml", help="read the grid from a TOML file"
    )
    p.add_argument("--dataset", choices=DATASETS, help="the data of every cell")
    p.add_argument(
        "--methods",
        type=parse_list(str, "comma-separated method names"),
        metavar="M,M,...",
        help="pruning methods (see the list in the error for an unknown one)",
    )
    p.add_argument(
        "--sparsities",
        type=parse_list(parse_sparsity, "comma-separated sparsities in [0, 1)"),
        metavar="S,S,...",
    )
    p.add_argument(
        "--seeds",
        type=parse_list(parse_int_at_least(0), "comma-separated seeds >= 0"),
        metavar="N,N,...",
        help="default 0",
    )
    p.add_argument("--epochs", type=parse_int_at_least(1), help="default 30")
    p.add_argument("--batch-size", type=parse_int_at_least(1), help="default 100")
    p.add_argument("--learning-rate", type=float, help="Adam's, default 1e-3")
    p.add_argument(
        "--hidden",
        type=parse_list(parse_int_at_least(1), "comma-separated layer widths"),
        metavar="W,W,...",
        help="hidden layer widths, default 256,256",
    )
    p.add_argument(
        "--no-dense", action="store_true", help="skip the dense baseline cells"
    )
    p.add_argument("--out", metavar="DIR", required=True, help="results folder")
    p.add_argument(
        "--workers",
        type=parse_int_at_least(1),
        help="processes (default: one per core)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDR",
        help="run on Dask: 'local' (a LocalCluster) or tcp://HOST:PORT "
        "(needs the dist extra)",
    )
    p.add_argument(
        "--plot", metavar="FILE.png", help="accuracy vs sparsity (plot extra)"
    )
    p.add_argument(
        "--log-x", action="store_true", help="plot: log scale of 1 - sparsity"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")


def _grid(args: argparse.Namespace) -> Any:
    from sparsecore.sweep import Grid, read_grid_config

    config: dict[str, Any] = {}
    if args.config:
        if not os.path.isfile(args.config):
            raise CLIError(f"--config {args.config!r}: no such file")
        try:  # checked once, with the flags, below
            config = read_grid_config(args.config)
        except ValueError as e:
            raise CLIError(str(e)) from None
    flags = {
        "dataset": args.dataset,
        "methods": args.methods,
        "sparsities": args.sparsities,
        "seeds": args.seeds,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "hidden": args.hidden,
    }
    config.update({k: v for k, v in flags.items() if v is not None})
    if args.no_dense:
        config["dense"] = False
    missing = [
        f"--{k}" for k in ("dataset", "methods", "sparsities") if k not in config
    ]
    if missing:
        raise CLIError(f"sweep needs {', '.join(missing)} (or --config FILE.toml)")
    try:
        return Grid.from_mapping(config)
    except (TypeError, ValueError) as e:
        where = f"{args.config}: " if args.config else ""
        raise CLIError(f"{where}{e}") from None


def run(args: argparse.Namespace) -> int:
    """Run ``sparsecore sweep``; return the exit code."""
    grid = _grid(args)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise CLIError(f"--out {args.out!r} is a file; give a folder")
    if args.plot:
        check_output_path(args.plot)
        from sparsecore import plots

        plots.require_matplotlib("--plot")
    from sparsecore import sweep

    cells = grid.cells()
    line = None if args.quiet else ProgressLine("sweep", len(cells))

    def progress(p: sweep.Progress) -> None:
        if line is None:
            return
        if p.last is None and p.skipped:
            say(f"{p.skipped} of {p.total} cells already finished in {args.out}")
        extra = f"{p.failed} failed" if p.failed else ""
        if p.last is not None:
            s = p.last["settings"]
            extra = ", ".join(
                filter(
                    None,
                    [extra, f"last {s['method']} s={s['sparsity']:g} seed={s['seed']}"],
                )
            )
        line.update(p.skipped + p.done, extra, eta=p.eta)

    with contextlib.ExitStack() as stack:
        executor = None
        if args.scheduler:
            try:
                executor = stack.enter_context(
                    sweep.dask_executor(args.scheduler, args.workers)
                )
            except ConnectionError as e:
                raise CLIError(str(e)) from None
            where = f"Dask scheduler {args.scheduler}"
        else:
            where = f"{args.workers or 'one per core'} local worker processes"
        if line is not None:
            say(
                f"{len(cells)} cells ({grid.dataset}) on {where}; results in {args.out}"
            )
        result = sweep.run(
            grid, args.out, executor=executor, workers=args.workers, progress=progress
        )
    if line is not None:
        line.close()
    say(
        f"ran {result.ran} cells, skipped {result.skipped} finished before, "
        f"{result.failed} failed"
    )
    for r in result.records:
        if r["status"] != "ok":
            err = r.get("error") or {}
            say(f"  failed: {r['name']}: {err.get('type')}: {err.get('message')}")
    say()
    say(result.table())
    say(f"wrote {os.path.join(args.out, 'results.csv')}, results.md, summary.md")
    if args.plot:
        from sparsecore import plots

        plots.plot_sweep(result.summary(), args.plot, log_scale=args.log_x)
        say(f"wrote {args.plot}")
    return 1 if result.failed else 0
