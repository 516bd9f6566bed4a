"""``sparsecore bench``: sparse against dense inference, and where sparse wins.

The sweep itself is :func:`sparsecore.bench.run_inference_sweep`; this module
maps the command line onto it, prints the speedup table (without the
project's internal targets, which stay in ``benchmarks/`` reports), what its
marks mean, every requested method that could not run and why, and, per
batch size, the crossover sparsity (:func:`crossovers`).
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence
from typing import Any

from sparsecore.cli._common import (
    CLIError,
    check_output_path,
    parse_int_at_least,
    parse_list,
    parse_sparsity,
    say,
)

__all__ = ["EXAMPLES", "HELP", "NAME", "add_arguments", "crossovers", "run"]

NAME = "bench"
HELP = (
    "Time sparse (SparseModel) against dense inference for the tutorial "
    "network, per sparsity and batch size."
)
EXAMPLES = """\
examples:
  sparsecore bench
  sparsecore bench --sparsities 0.9,0.95,0.99 --batches 1,16 --csv bench.csv
  sparsecore bench --dtype float64 --plot speedup.png
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``bench`` options to its sub-parser."""
    p.add_argument(
        "--sparsities",
        type=parse_list(parse_sparsity, "comma-separated sparsities in [0, 1)"),
        metavar="S,S,...",
        help="default 0,0.5,0.75,0.9,0.95,0.99",
    )
    p.add_argument(
        "--batches",
        type=parse_list(parse_int_at_least(1), "comma-separated batch sizes >= 1"),
        metavar="B,B,...",
        help="default 1,16,256,1024",
    )
    p.add_argument(
        "--dtype",
        choices=["float32", "float64", "both"],
        default="float32",
        help="default float32",
    )
    p.add_argument(
        "--methods",
        type=parse_list(str, "comma-separated method names"),
        metavar="M,M,...",
        help="subset of numpy_dense, scipy_naive, sc_auto, sc_load, sc_measure, "
        "sc_csr, sc_scipy, sc_numba, sc_scipy_auto, sc_numpy, sc_numpy_auto, "
        "sc_numpy_load, sc_dense, torch_dense, torch_csr (default: all that can "
        "run; sc_numpy*: the NumPy-only runtime, sc_*load: load-time auto)",
    )
    p.add_argument(
        "--no-structured",
        action="store_true",
        help="skip the 75%% structured (neuron-pruned, compacted) network",
    )
    p.add_argument(
        "--repeats",
        type=parse_int_at_least(1),
        help="timing rounds per cell (default 7)",
    )
    p.add_argument(
        "--quick", action="store_true", help="3 rounds of short samples (a smoke test)"
    )
    p.add_argument("--csv", metavar="FILE", help="write every measurement as CSV")
    p.add_argument(
        "--plot", metavar="FILE.png", help="plot speedup vs sparsity (needs matplotlib)"
    )


def crossovers(rows: Sequence[dict[str, Any]], method: str) -> list[str]:
    """Per batch: the sparsity from which `method` beats dense, interpolated.

    The crossover is where the speedup (linearly interpolated between the
    measured sparsities) crosses 1 for the last time, so that `method` is
    faster at every measured sparsity above it.
    """
    lines = []
    cells = sorted(
        (r["dtype"], r["batch"], r["sparsity"], r["speedup"])
        for r in rows
        if r["method"] == method and not r["structured"]
    )
    for dtype, batch in sorted({(c[0], c[1]) for c in cells}):
        pts = [(c[2], c[3]) for c in cells if c[:2] == (dtype, batch)]
        label = f"  {dtype} batch {batch:>4}: "
        if pts[-1][1] < 1.0:
            lines.append(label + f"never (x{pts[-1][1]:.2f} at {pts[-1][0]:g})")
            continue
        i = len(pts) - 1
        while i > 0 and pts[i - 1][1] >= 1.0:
            i -= 1
        if i == 0:
            lines.append(label + f"at or below {pts[0][0]:g} (x{pts[0][1]:.2f})")
            continue
        (s0, v0), (s1, v1) = pts[i - 1], pts[i]
        cross = s0 + (1.0 - v0) * (s1 - s0) / (v1 - v0)
        lines.append(label + f"~{cross:.3f} (x{v0:.2f} at {s0:g}, x{v1:.2f} at {s1:g})")
    return lines


def _reasons(
    rows: Sequence[dict[str, Any]], requested: Sequence[str], kwargs: dict[str, Any]
) -> dict[tuple[str, tuple[Any, ...]], str | None]:
    """Why each requested method is missing from a cell, by (method, cell)."""
    from sparsecore.bench.methods import skip_reason
    from sparsecore.bench.networks import STRUCTURED_SPARSITY, cached_layers

    present = {(r["method"], r["dtype"], r["structured"], r["sparsity"], r["batch"])
               for r in rows}  # fmt: skip
    cells = [(float(s), False) for s in kwargs["sparsities"]]
    if kwargs["structured"]:
        cells.append((STRUCTURED_SPARSITY, True))
    out: dict[tuple[str, tuple[Any, ...]], str | None] = {}
    for dtype in kwargs["dtypes"]:
        for sparsity, struct in cells:
            layers = cached_layers(sparsity, struct, dtype)
            for batch in kwargs["batches"]:
                for m in requested:
                    if (m, dtype, struct, sparsity, batch) not in present:
                        key = (dtype, struct, sparsity, batch)
                        out[(m, key)] = skip_reason(m, layers, batch)
    return out


def run(args: argparse.Namespace) -> int:
    """Run ``sparsecore bench``; return the exit code."""
    for path in (args.plot, args.csv):
        if path is not None:  # an empty name is refused, not ignored
            check_output_path(path)
    if args.plot:
        from sparsecore import plots

        plots.require_matplotlib("--plot")
    from sparsecore import bench
    from sparsecore.bench.report import LEGEND, not_run

    if args.methods:
        unknown = [m for m in args.methods if m not in bench.METHODS]
        if unknown:
            raise CLIError(
                f"--methods must be among {', '.join(bench.METHODS)}; got "
                f"{', '.join(unknown)}"
            )
    kwargs: dict[str, Any] = {
        "sparsities": args.sparsities or bench.DEFAULT_SPARSITIES,
        "batches": args.batches or bench.DEFAULT_BATCHES,
        "dtypes": ["float32", "float64"] if args.dtype == "both" else [args.dtype],
        "structured": not args.no_structured,
        "progress": say,
    }
    if args.methods:
        kwargs["methods"] = args.methods
    if args.quick:
        kwargs.update(repeats=3, min_time=0.005)
    if args.repeats:
        kwargs["repeats"] = args.repeats
    say("timing every method on every cell (interleaved, medians); one line per cell")
    rows = bench.run_inference_sweep(**kwargs)
    say()
    say(
        "speedup over numpy dense, same run (x1.00 = as fast as dense; 's' = "
        "75% structured, compacted):"
    )
    say(bench.format_table(rows, markdown=False, targets=False))
    say()
    say(textwrap.fill(LEGEND, width=88))
    requested = list(dict.fromkeys(["numpy_dense", *(args.methods or bench.METHODS)]))
    missing = not_run(rows, requested, _reasons(rows, requested, kwargs))
    if missing:
        say()
        say(
            "requested but not run:"
            if args.methods
            else "not run here (every method runs when it can):"
        )
        say("\n".join(missing))
    for method in ("sc_csr", "sc_auto", "sc_numpy", "sc_numpy_auto"):
        lines = crossovers(rows, method)
        if lines:
            say()
            say(f"crossover sparsity ({method} faster than dense from):")
            say("\n".join(lines))
    if args.csv:
        bench.write_csv(rows, args.csv, env=bench.environment())
        say(f"wrote {args.csv}")
    if args.plot:
        from sparsecore import plots

        plots.plot_bench(rows, args.plot)
        say(f"wrote {args.plot}")
    return 0
