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
    "LEGEND",
    "NUMPY_AUTO_MIN",
    "NUMPY_TARGETS",
    "TARGETS",
    "explain",
    "format_table",
    "not_run",
    "read_csv",
    "readme_table",
    "update_readme",
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


# Targets for the NumPy-only runtime: (sparsity, batch) -> speedup of sc_numpy
# (every layer CSR); and NumPy-only auto (sc_numpy_auto, sc_numpy_load) must
# be at least NUMPY_AUTO_MIN x dense in every cell.
NUMPY_TARGETS: dict[tuple[float, int], float] = {
    (0.95, 1): 1.5,
    (0.99, 1): 4.0,
    (0.99, 16): 6.0,
}
NUMPY_AUTO_MIN = 0.95
_NUMPY_AUTOS = ("sc_numpy_auto", "sc_numpy_load")


def _numpy_target(row: dict[str, Any]) -> float | None:
    if row["structured"]:
        return None
    return NUMPY_TARGETS.get((row["sparsity"], row["batch"]))


def _numpy_status(c: dict[str, dict[str, Any]]) -> str:
    """The "target (numpy)" entry of a cell: CSR target, and auto's floor."""
    out = []
    tgt = _numpy_target(next(iter(c.values())))
    if tgt is not None and "sc_numpy" in c:
        ok = c["sc_numpy"]["speedup"] >= tgt
        out.append(f"csr >= x{tgt:g} {'met' if ok else 'MISSED'}")
    low = [m for m in _NUMPY_AUTOS if m in c and c[m]["speedup"] < NUMPY_AUTO_MIN]
    if low:
        out.append("auto < x0.95 MISSED")
    return "; ".join(out)


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


def format_table(
    rows: Sequence[dict[str, Any]], *, markdown: bool = True, targets: bool = True
) -> str:
    """Speedups over ``numpy_dense`` as a table: one line per cell.

    Columns: sparsity (``s`` = structured), batch, dtype, numpy dense time
    (``~`` when its samples spread by more than 25 %: the cell was disturbed
    by other load), then one speedup column per method (``x1.00`` = as fast
    as dense) and, with `targets` (the project's reports in
    ``benchmarks/``; ``sparsecore bench`` leaves them out), the target for
    ``sc_auto`` where the issue sets one and, when a NumPy-only method ran,
    the NumPy-only targets (:data:`NUMPY_TARGETS` for ``sc_numpy``;
    ``sc_numpy_auto`` and ``sc_numpy_load`` >= x0.95).
    """
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    cells = _group_cells(rows)
    numpy_col = targets and any(m in methods for m in ("sc_numpy", *_NUMPY_AUTOS))
    head = ["sparsity", "batch", "dtype", "dense us", *methods]
    if targets:
        head.append("target (auto)")
    if numpy_col:
        head.append("target (numpy)")
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
        if not targets:
            pass
        elif tgt is not None and "sc_auto" in c:
            ok = c["sc_auto"]["speedup"] >= tgt
            vals.append(f">= x{tgt:g} {'met' if ok else 'MISSED'}")
        else:
            vals.append("")
        if numpy_col:
            vals.append(_numpy_status(c))
        lines.append(vals)
    # Every column right-aligned (numbers), no rule under the header: as the
    # table has always looked in the CLI and the committed results.
    return _text.format_table(lines, "r" * len(head), rules=(), markdown=markdown)


#: What the table's marks mean, in plain words (printed under it).
LEGEND = (
    "How to read it: x2.00 = twice as fast as NumPy dense on the same cell, "
    "x0.50 = half as fast; '-' = the method did not run on that cell (see "
    "below). A '~' after the dense time means its timing samples spread by "
    "more than 25 %: other programs were using the CPU, so read that row "
    "with care. A 're-run: disturbed cell' line means that the cell's dense "
    "time was over 1.5x the fastest dense time at the same batch size (dense "
    "time does not depend on sparsity, so other load slowed it): the cell was "
    "timed again and the least disturbed run kept (CSV column 'retried')."
)


def not_run(
    rows: Sequence[dict[str, Any]],
    requested: Sequence[str],
    reasons: dict[tuple[str, tuple[Any, ...]], str | None],
) -> list[str]:
    """One line per requested method that did not run on every cell, and why.

    Parameters
    ----------
    rows : sequence of dict
        The sweep's rows.
    requested : sequence of str
        The methods asked for.
    reasons : dict of (method, cell) to str or None
        Why a method could not run on a cell ``(dtype, structured, sparsity,
        batch)`` (:func:`sparsecore.bench.methods.skip_reason`).
    """
    cells = _group_cells(rows)
    lines = []
    for m in requested:
        missing = [key for key, c in sorted(cells.items()) if m not in c]
        if not missing:
            continue
        why = sorted({reasons.get((m, key)) or "it did not run" for key in missing})
        where = (
            "on any cell"
            if len(missing) == len(cells)
            else f"on {len(missing)} of {len(cells)} cells ("
            + ", ".join(
                f"{s:g}{'s' if st else ''}/batch {b}" for _, st, s, b in missing[:4]
            )
            + (", ..." if len(missing) > 4 else "")
            + ")"
        )
        lines.append(f"  {m}: not run {where}: {'; '.join(why)}")
    return lines


#: The environment fields every CSV row carries (``env_<key>``, spaces as _).
CSV_ENVIRONMENT = (
    "date",
    "cpu",
    "cpus",
    "blas",
    "blas threads",
    "OPENBLAS_NUM_THREADS",
    "sparsecore backends",
    "numpy",
    "scipy",
    "numba",
    "load average",
)


def write_csv(
    rows: Sequence[dict[str, Any]],
    path: str | os.PathLike[str],
    *,
    env: dict[str, str] | None = None,
) -> None:
    """Write the rows to a CSV file (one line per cell and method).

    With `env` (:func:`~sparsecore._environment.environment`), every row
    also carries the fields of :data:`CSV_ENVIRONMENT` as ``env_<key>``
    columns (``""`` where the record lacks one), so the file says what it
    was measured on.
    """
    if not rows:
        raise ValueError("rows must not be empty")
    extra: dict[str, str] = {}
    if env is not None:
        extra = {
            "env_" + k.replace(" ", "_"): str(env.get(k, "")) for k in CSV_ENVIRONMENT
        }
    fields = list(rows[0]) + list(extra)
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for r in rows:
        w.writerow({**r, **extra})
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
        "With plan='estimate' (sc_auto, sc_load, the *_auto columns), per layer",
        "(after compaction), the candidate with the least estimated time: dense,",
        "or CSR with each backend allowed. A large layer is CSR when its density",
        "(nnz / (n_in * n_out)) is at most the backend's limit for the batch size",
        "(interpolated in log2(batch)); a fixed cost per product decides small",
        "ones, and a layer of fewer than 4096 weights stays dense. Limits (batch "
        + ", ".join(f"{b:g}" for b in AUTO_BATCHES)
        + "):",
        "",
    ]
    for be, vals in AUTO_MAX_DENSITY.items():
        lines.append(f"- {be}: " + ", ".join(f"{v:g}" for v in vals))
    lines += [
        "",
        "With plan='measure' (sc_measure), every candidate (dense; CSR with",
        "each backend, serial and split across threads) is timed on the layer",
        "at the batch size, in this run, and the fastest kept.",
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
        csr_methods = [
            m for m in ("sc_csr", "sc_scipy", "sc_numba", "sc_numpy") if m in c
        ]
        if not struct and csr_methods and nnz:
            best = min(csr_methods, key=lambda m: c[m]["time_s"])
            t = c[best]["time_s"]
            kept = c[best].get("nnz_compacted", nnz) or nnz
            need = base / tgt / (kept * batch) * 1e9
            text += (
                f" Pruning leaves {nnz:,} nonzeros ({csr_bytes / 1e6:.2f} MB as "
                f"CSR), compaction {kept:,}; the best CSR run ({best}, "
                f"{c[best]['formats']}) takes "
                f"{t / (kept * batch) * 1e9:.3f} ns per nonzero per column "
                f"(the target needs <= {need:.3f})."
            )
        lines.append(text)
    lines += _numpy_notes(cells)
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
    for m in _NUMPY_AUTOS:
        low = [c[m] for c in cells.values() if m in c]
        if low:
            miss = [r for r in low if r["speedup"] < NUMPY_AUTO_MIN]
            lines.append(
                f"- {m} more than 5 % slower than numpy dense: "
                + (
                    ", ".join(_cell_label(r) + f" (x{r['speedup']:.2f})" for r in miss)
                    or f"none (lowest x{min(r['speedup'] for r in low):.2f})"
                )
            )
    # The fast extra must never make a cell slower: sc_auto (numba allowed)
    # against sc_scipy_auto (what auto is without it), 5 % for timing noise.
    # Where both chose the same plan, a difference is noise, said as such.
    pairs = [c for c in cells.values() if "sc_auto" in c and "sc_scipy_auto" in c]
    if pairs:
        slower = [
            c
            for c in pairs
            if c["sc_auto"]["time_s"] > 1.05 * c["sc_scipy_auto"]["time_s"]
        ]
        found: list[str] = []
        for c in slower:
            a, b = c["sc_auto"], c["sc_scipy_auto"]
            same = (
                " (the same plan: timing noise)" if a["formats"] == b["formats"] else ""
            )
            found.append(
                _cell_label(a) + f" (x{a['speedup']:.2f} vs x{b['speedup']:.2f}){same}"
            )
        lines.append(
            "- sc_auto (numba allowed) more than 5 % slower than sc_scipy_auto "
            "(auto without the fast extra): " + (", ".join(found) or "none")
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


def _numpy_notes(cells: dict[tuple[Any, ...], dict[str, dict[str, Any]]]) -> list[str]:
    """The NumPy-only targets, and what limits each: bytes moved per nonzero.

    The NumPy kernel (sparsecore.runtime.ell) moves, per nonzero, its intp
    column (8 B) and value, and per batch column the gathered product: at
    batch 1 written by the gather, read and written by the multiply, read by
    the sum (4 accesses); in a batch written by the gather and read by the
    stacked matmul (2). Against the read bandwidth measured in the same run
    that is a floor on its time, given next to what it measured.
    """
    out: list[str] = []
    for key in sorted(cells):
        c = cells[key]
        row = next(iter(c.values()))
        tgt = _numpy_target(row)
        if tgt is None or "sc_numpy" not in c or "numpy_dense" not in c:
            continue
        dtype, _, sparsity, batch = key
        r = c["sc_numpy"]
        itemsize = np.dtype(dtype).itemsize
        kept = r.get("nnz_compacted", row["nnz"]) or row["nnz"]
        # batch 1: gather writes, multiply reads and writes, the sum reads;
        # a batch: the gather writes, the stacked matmul reads
        moved = kept * (8 + itemsize + (4 if batch == 1 else 2) * itemsize * batch)
        floor = moved / (row["read_bw_gbs"] * 1e9)
        base = c["numpy_dense"]["time_s"]
        status = "met" if r["speedup"] >= tgt else "MISSED"
        if not out:
            out += ["", "## NumPy-only targets (sc_numpy: every layer CSR)", ""]
        out.append(
            f"- sparsity {sparsity:g}, batch {batch}: sc_numpy x{r['speedup']:.2f} "
            f"vs target x{tgt:g}: **{status}** ({r['formats']}). {kept:,} nonzeros "
            f"after compaction, {r['time_s'] / (kept * batch) * 1e9:.3f} ns per "
            f"nonzero per column measured (the target needs <= "
            f"{base / tgt / (kept * batch) * 1e9:.3f}); it moves ~{moved / 1e6:.2f} "
            f"MB, {floor * 1e6:.1f} us at the {row['read_bw_gbs']:.0f} GB/s "
            f"read bandwidth measured in this run, against "
            f"{r['time_s'] * 1e6:.1f} us measured for the whole network."
        )
    return out


def _cell_label(r: dict[str, Any]) -> str:
    s = f"{r['sparsity']:g}{'s' if r['structured'] else ''}"
    return f"{r['dtype']} sparsity {s} batch {r['batch']}"


_FLOAT_FIELDS = (
    "sparsity",
    "time_s",
    "time_p25_s",
    "time_p75_s",
    "speedup",
    "read_bw_gbs",
    "spread",
)
_INT_FIELDS = ("batch", "nnz", "weight_bytes", "nnz_compacted", "retried")


def read_csv(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read rows written by :func:`write_csv` back, with their types.

    Raises
    ------
    ValueError
        If a column the report needs is missing or does not parse.
    """
    with open(path, newline="", encoding="utf-8") as f:
        raw = list(csv.DictReader(f))
    rows = []
    for i, r in enumerate(raw):
        try:
            row: dict[str, Any] = dict(r)
            for k in _FLOAT_FIELDS:
                row[k] = float(r[k])
            for k in _INT_FIELDS:
                row[k] = int(r[k])
            if r["structured"] not in ("True", "False"):
                raise ValueError(f"structured must be True or False; got {r!r}")
            row["structured"] = r["structured"] == "True"
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{os.fspath(path)}: row {i + 1}: {e}") from None
        rows.append(row)
    return rows


# The README's table: what a user compares, per cell (column title, method).
README_COLUMNS = (
    ("naive `x @ csr_matrix(W)`", "scipy_naive"),
    ("auto", "sc_auto"),
    ("load-time auto", "sc_load"),
    ("measured plan", "sc_measure"),
    ("auto without numba", "sc_scipy_auto"),
    ("NumPy-only CSR", "sc_numpy"),
    ("NumPy-only auto", "sc_numpy_auto"),
    ("NumPy-only load-time auto", "sc_numpy_load"),
    ("PyTorch dense", "torch_dense"),
)
README_BEGIN = (
    "<!-- inference-table: begin (python benchmarks/inference.py --readme) -->"
)
README_END = "<!-- inference-table: end -->"


def readme_table(rows: Sequence[dict[str, Any]]) -> str:
    """The README's inference table: speedups over NumPy dense from a sweep.

    One line per cell: batch 1 at every sparsity, the larger batches from 90 %
    sparsity on, and the structured network; the columns of
    :data:`README_COLUMNS` that the sweep measured.
    """
    cells = _group_cells(rows)
    cols = [(t, m) for t, m in README_COLUMNS if any(m in c for c in cells.values())]
    head = ["sparsity", "batch", "NumPy dense", *[t for t, _ in cols]]
    lines = [head]
    order = sorted(cells, key=lambda k: (k[0], k[1], k[3] != 1, k[3], k[2]))
    for key in order:
        dtype, struct, sparsity, batch = key
        c = cells[key]
        if dtype != "float32" or "numpy_dense" not in c:
            continue
        if not struct and batch != 1 and sparsity < 0.9:
            continue
        t = c["numpy_dense"]["time_s"]
        dense = f"{t * 1e6:.0f} µs" if t < 1e-3 else f"{t * 1e3:.1f} ms"
        lines.append(
            [f"{sparsity:g}{'s' if struct else ''}", str(batch), dense]
            + [f"x{c[m]['speedup']:.2f}" if m in c else "-" for _, m in cols]
        )
    return _text.format_table(lines, "l" * 3 + "r" * len(cols), markdown=True)


def update_readme(
    readme: str | os.PathLike[str], rows: Sequence[dict[str, Any]], source: str
) -> None:
    """Replace the README's inference table (between its markers) from `rows`.

    Parameters
    ----------
    readme : str or path-like
        The README; it must hold :data:`README_BEGIN` and :data:`README_END`.
    rows : sequence of dict
        A sweep's rows (:func:`read_csv` of its CSV).
    source : str
        The result file the rows come from, named under the table.

    Raises
    ------
    ValueError
        If the markers are missing or out of order.
    """
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    a, b = text.find(README_BEGIN), text.find(README_END)
    if a < 0 or b < a:
        raise ValueError(
            f"{os.fspath(readme)} must hold {README_BEGIN!r} and then {README_END!r}"
        )
    env = {k: str(rows[0].get("env_" + k, "")) for k in ("cpu", "blas_threads")}
    note = f"Generated from `{source}`"
    if env["cpu"]:
        note += f" ({env['cpu']}, BLAS threads: {env['blas_threads'] or '?'})"
    block = f"{README_BEGIN}\n{readme_table(rows)}\n\n{note}.\n"
    new = text[:a] + block + text[b:]
    with atomic_write(readme) as f2:
        f2.write(new.encode("utf-8"))
