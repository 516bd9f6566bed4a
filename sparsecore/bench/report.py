"""Reporting a sweep: the speedup table, CSV and markdown files, and notes.

The rows are those of :func:`sparsecore.bench.run_inference_sweep`; the
targets for ``sc_auto`` are :data:`TARGETS`. Tables are laid out by
:func:`sparsecore._text.format_table`, the header's environment is
:func:`sparsecore._environment.environment`, and files are written atomically
(:func:`sparsecore.runtime.atomic.atomic_write`).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from sparsecore import _text
from sparsecore._environment import environment
from sparsecore.bench.methods import METHODS
from sparsecore.bench.networks import STRUCTURED_SPARSITY, TUTORIAL_WIDTHS, file_sizes
from sparsecore.runtime.atomic import atomic_write

__all__ = [
    "TARGETS",
    "explain",
    "format_table",
    "write_csv",
    "write_markdown",
]

# Targets from the issue: (structured, sparsity, batch) -> speedup of sc_auto.
TARGETS: dict[tuple[bool, float, int | None], float] = {
    (False, 0.9, 1): 1.2,
    (False, 0.95, 1): 2.5,
    (False, 0.99, 1): 5.0,
    (False, 0.9, 16): 2.0,
    (False, 0.95, 256): 1.5,
    (True, STRUCTURED_SPARSITY, None): 3.0,
}


def _target(row: dict[str, Any]) -> float | None:
    if row["structured"]:
        return TARGETS.get((True, row["sparsity"], None))
    return TARGETS.get((False, row["sparsity"], row["batch"]))


def _group_cells(
    rows: Sequence[dict[str, Any]],
) -> dict[tuple[Any, ...], dict[str, dict[str, Any]]]:
    """The rows by cell ``(dtype, structured, sparsity, batch)``, then by method."""
    cells: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}
    for r in rows:
        key = (r["dtype"], r["structured"], r["sparsity"], r["batch"])
        cells.setdefault(key, {})[r["method"]] = r
    return cells


def format_table(rows: Sequence[dict[str, Any]], *, markdown: bool = True) -> str:
    """Speedups over ``numpy_dense`` as a table: one line per cell.

    Columns: sparsity (``s`` = structured), batch, dtype, numpy dense time
    (``~`` when its samples spread by more than 25 %: the cell was disturbed
    by other load), then one speedup column per method (``x1.00`` = as fast
    as dense), and the target for ``sc_auto`` where the issue sets one.
    """
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    cells = _group_cells(rows)
    head = ["sparsity", "batch", "dtype", "dense us", *methods, "target (auto)"]
    lines = [head]
    for key in sorted(cells):
        dtype, struct, sparsity, batch = key
        c = cells[key]
        base = c.get("numpy_dense")
        vals = [
            f"{sparsity:g}{'s' if struct else ''}",
            str(batch),
            dtype,
            (
                f"{base['time_s'] * 1e6:.0f}" + ("~" if base["spread"] > 0.25 else "")
                if base
                else "-"
            ),
        ]
        vals += [f"x{c[m]['speedup']:.2f}" if m in c else "-" for m in methods]
        tgt = _target(next(iter(c.values())))
        if tgt is not None and "sc_auto" in c:
            ok = c["sc_auto"]["speedup"] >= tgt
            vals.append(f">= x{tgt:g} {'met' if ok else 'MISSED'}")
        else:
            vals.append("")
        lines.append(vals)
    # Every column right-aligned (numbers), no rule under the header: as the
    # table has always looked in the CLI and the committed results.
    return _text.format_table(lines, "r" * len(head), rules=(), markdown=markdown)


def write_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """Write the rows to a CSV file (one line per cell and method)."""
    if not rows:
        raise ValueError("rows must not be empty")
    fields = list(rows[0])
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for r in rows:
        w.writerow(r)
    with atomic_write(path) as f:
        f.write(buf.getvalue().encode())


def write_markdown(
    rows: Sequence[dict[str, Any]],
    path: str | os.PathLike[str],
    *,
    env: dict[str, str] | None = None,
    command: str = "",
    notes: str = "",
) -> None:
    """Write a markdown report: environment, the speedup table and notes."""
    env = environment() if env is None else env
    parts = ["# Inference benchmark: speedup over NumPy dense (same run)", ""]
    if command:
        parts += [f"Command: `{command}`", ""]
    parts += [_text.format_table([("", ""), *env.items()], "ll", markdown=True)]
    parts += [
        "",
        "Speedup = numpy_dense time / the method's time, same cell, same run",
        "(medians over interleaved rounds). `~` after the dense time: its samples",
        "spread by more than 25 % (other load). Cells whose dense time was over",
        "1.5x the fastest at the same batch were re-run (CSV column `retried`).",
        "",
        format_table(rows),
        "",
    ]
    if notes:
        parts += [notes.rstrip(), ""]
    with atomic_write(path) as f:
        f.write("\n".join(parts).encode())


def explain(
    rows: Sequence[dict[str, Any]], *, widths: Sequence[int] = TUTORIAL_WIDTHS
) -> str:
    """Notes for the report: the auto rule and what limits each targeted cell.

    For every cell the issue sets a target for, says whether ``sc_auto`` met
    it, the bytes the dense and CSR weights occupy, the measured nanoseconds
    per nonzero and batch column of the best sparsecore CSR method, what the
    target would need, and the dense time against the single-thread
    cache-bandwidth floor measured in the same run; then the file sizes of the
    90 %-sparse network of `widths` (the sweep's network: pass the same).
    """
    from sparsecore.runtime.auto import AUTO_BATCHES, AUTO_MAX_DENSITY

    lines = [
        "## How format='auto' chooses",
        "",
        "A layer is stored as CSR when its density (nnz / (n_in * n_out), after",
        "compaction) is at most the backend's limit for the expected batch size",
        "(interpolated in log2(batch)), and it has at least 4096 weights;",
        "otherwise dense. Limits (batch "
        + ", ".join(f"{b:g}" for b in AUTO_BATCHES)
        + "):",
        "",
    ]
    for be, vals in AUTO_MAX_DENSITY.items():
        lines.append(f"- {be}: " + ", ".join(f"{v:g}" for v in vals))
    lines += [
        "",
        "Every kernel is pruned to the sweep's sparsity, the 1024 x 1 output",
        "kernel included (as tfmot does), so at sparsity s only about",
        "(1 - s) * 1024 neurons of the second hidden layer reach the output and",
        "compaction removes the others (and their rows of the second kernel):",
        "the sc_dense column shows what compaction alone gives.",
        "",
        "## Targets (sc_auto vs numpy dense) and what limits each cell",
        "",
    ]
    cells = _group_cells(rows)
    for key in sorted(cells):
        c = cells[key]
        any_row = next(iter(c.values()))
        tgt = _target(any_row)
        if tgt is None or "sc_auto" not in c or "numpy_dense" not in c:
            continue
        dtype, struct, sparsity, batch = key
        base = c["numpy_dense"]["time_s"]
        auto = c["sc_auto"]
        nnz, dbytes = any_row["nnz"], any_row["weight_bytes"]
        itemsize = np.dtype(dtype).itemsize
        csr_bytes = nnz * (itemsize + 4)
        status = "met" if auto["speedup"] >= tgt else "MISSED"
        label = f"{sparsity:g}{' structured' if struct else ''}"
        text = (
            f"- sparsity {label}, batch {batch}: auto x{auto['speedup']:.2f} vs "
            f"target x{tgt:g}: **{status}** (formats {auto['formats']}). "
        )
        if batch == 1:
            floor = dbytes / (any_row["read_bw_gbs"] * 1e9)
            text += (
                f"Dense GEMV reads {dbytes / 1e6:.1f} MB in {base * 1e6:.0f} us "
                f"({dbytes / base / 1e9:.0f} GB/s; the single-thread read floor "
                f"measured in this run is {any_row['read_bw_gbs']:.0f} GB/s = "
                f"{floor * 1e6:.0f} us)."
            )
        else:
            flops = 2 * dbytes / itemsize * batch
            text += f"Dense GEMM runs at {flops / base / 1e9:.0f} GFLOP/s."
        csr_methods = [m for m in ("sc_csr", "sc_scipy", "sc_numpy") if m in c]
        if not struct and csr_methods and nnz:
            best = min(csr_methods, key=lambda m: c[m]["time_s"])
            t = c[best]["time_s"]
            kept = c[best].get("nnz_compacted", nnz) or nnz
            need = base / tgt / (kept * batch) * 1e9
            text += (
                f" Pruning leaves {nnz:,} nonzeros ({csr_bytes / 1e6:.2f} MB as "
                f"CSR), compaction {kept:,}; the best CSR run ({best}, "
                f"{c[best]['formats'].split('@')[-1]}) takes "
                f"{t / (kept * batch) * 1e9:.3f} ns per nonzero per column "
                f"(the target needs <= {need:.3f})."
            )
        lines.append(text)
    sizes = file_sizes(0.9, widths=widths)
    network = (
        "tutorial model"
        if tuple(widths) == TUTORIAL_WIDTHS
        else "model " + " -> ".join(str(n) for n in widths)
    )
    lines += ["", f"## Size of the 90 %-sparse {network} (bytes)", ""]
    lines += [
        f"- {k}: {v:,} ({v / sizes['dense_float32']:.3f}x dense)"
        for k, v in sizes.items()
    ]
    lines += ["", "## Cell-wide checks", ""]
    slow_auto = [
        c["sc_auto"]
        for c in cells.values()
        if "sc_auto" in c and c["sc_auto"]["speedup"] < 0.95
    ]
    lines.append(
        "- sc_auto more than 5 % slower than numpy dense: "
        + (
            ", ".join(_cell_label(r) + f" (x{r['speedup']:.2f})" for r in slow_auto)
            or "none"
        )
    )
    for m in ("sc_auto", "sc_csr"):
        behind = [
            c[m]
            for c in cells.values()
            if m in c
            and "scipy_naive" in c
            and c[m]["time_s"] > c["scipy_naive"]["time_s"]
        ]
        lines.append(
            f"- {m} slower than the naive `x @ csr_matrix(W)`: "
            + (", ".join(_cell_label(r) for r in behind) or "none")
        )
    return "\n".join(lines)


def _cell_label(r: dict[str, Any]) -> str:
    s = f"{r['sparsity']:g}{'s' if r['structured'] else ''}"
    return f"{r['dtype']} sparsity {s} batch {r['batch']}"
