"""Reporting a sweep: the speedup table, CSV and markdown files, and notes.

The rows are those of :func:`sparsecore.bench.run_inference_sweep`; the
targets for ``sc_auto`` are :data:`TARGETS`.
"""

from __future__ import annotations

import csv
import datetime
import os
import platform
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._bench_data import STRUCTURED_SPARSITY, file_sizes
from ._bench_methods import METHODS
from .runtime.csr import available_backends

__all__ = [
    "TARGETS",
    "environment",
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


def environment() -> dict[str, str]:
    """Machine and library versions, for the results' header."""
    env: dict[str, str] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"
        ),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": str(os.cpu_count()),
        "numpy": np.__version__,
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    env["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    for mod in ("scipy", "numba", "torch"):
        try:
            env[mod] = __import__(mod).__version__
        except ImportError:
            env[mod] = "not installed"
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        env["blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - informational only
        pass
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if var in os.environ:
            env[var] = os.environ[var]
    if hasattr(os, "getloadavg"):
        env["load average"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    env["sparsecore backends"] = ", ".join(available_backends())
    return env


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
    lines = []
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
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(v) + " |" for v in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(v[i]) for v in lines)) for i, h in enumerate(head)]
    out = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    out += [
        "  ".join(v.rjust(w) for v, w in zip(vals, widths, strict=True))
        for vals in lines
    ]
    return "\n".join(out)


def write_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """Write the rows to a CSV file (one line per cell and method)."""
    if not rows:
        raise ValueError("rows must not be empty")
    fields = list(rows[0])
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow(r)


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
    parts += ["| | |", "|---|---|"]
    parts += [f"| {k} | {v} |" for k, v in env.items()]
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
    with open(path, "w") as f:
        f.write("\n".join(parts))


def explain(rows: Sequence[dict[str, Any]]) -> str:
    """Notes for the report: the auto rule and what limits each targeted cell.

    For every cell the issue sets a target for, says whether ``sc_auto`` met
    it, the bytes the dense and CSR weights occupy, the measured nanoseconds
    per nonzero and batch column of the best sparsecore CSR method, what the
    target would need, and the dense time against the single-thread
    cache-bandwidth floor measured in the same run.
    """
    from .runtime.auto import AUTO_BATCHES, AUTO_MAX_DENSITY

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
    sizes = file_sizes(0.9)
    lines += ["", "## Size of the 90 %-sparse tutorial model (bytes)", ""]
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
