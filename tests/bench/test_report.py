"""sparsecore.bench.report: the speedup table, the CSV and markdown files, notes."""

import csv
import os

import numpy as np
import pytest

from sparsecore import bench
from sparsecore._environment import environment


def _row(method, speedup, *, sparsity=0.9, structured=False, batch=1, spread=0.0):
    return {
        "sparsity": sparsity,
        "structured": structured,
        "batch": batch,
        "dtype": "float32",
        "method": method,
        "time_s": 1e-4 / speedup,
        "time_p25_s": 1e-4 / speedup,
        "time_p75_s": 1e-4 / speedup,
        "speedup": speedup,
        "nnz": 10,
        "weight_bytes": 400,
        "formats": "csr@numba" if method.startswith("sc_") else "",
        "nnz_compacted": 10,
        "read_bw_gbs": 10.0,
        "spread": spread,
        "retried": 0,
    }


ROWS = [
    _row("numpy_dense", 1.0, spread=0.5),
    _row("sc_auto", 1.5),
    _row("numpy_dense", 1.0, sparsity=0.5, batch=16),
]


def test_format_table_markdown_and_plain():
    table = bench.format_table(ROWS)
    lines = table.splitlines()
    head = ["sparsity", "batch", "dtype", "dense us", "numpy_dense", "sc_auto"]
    assert lines[0] == "| " + " | ".join([*head, "target (auto)"]) + " |"
    assert lines[1] == "| " + " | ".join(["---:"] * 7) + " |"
    # the 0.9 / batch 1 cell: dense time disturbed (~), auto x1.50 vs x1.2
    assert lines[3] == "| 0.9 | 1 | float32 | 100~ | x1.00 | x1.50 | >= x1.2 met |"
    assert lines[2] == "| 0.5 | 16 | float32 | 100 | x1.00 | - |  |"
    plain = bench.format_table(ROWS, markdown=False).splitlines()
    assert plain[0].split()[:4] == ["sparsity", "batch", "dtype", "dense"]
    assert len(plain) == 3  # header and two cells, no rule: as before
    assert plain[2].endswith("x1.50    >= x1.2 met")  # "target (auto)" is wider
    assert all(line == line.rstrip() for line in plain)
    assert plain[1].startswith(" " * 5 + "0.5     16")  # right-aligned


def test_write_csv_round_trips_and_is_atomic(tmp_path):
    path = tmp_path / "r.csv"
    bench.write_csv(ROWS, path)
    with open(path, newline="") as f:
        back = list(csv.DictReader(f))
    assert len(back) == len(ROWS) and back[1]["method"] == "sc_auto"
    assert list(back[0]) == list(ROWS[0])
    assert path.read_bytes().startswith(b"sparsity,structured,batch")
    assert os.listdir(tmp_path) == ["r.csv"]  # no temporary file left


def test_write_csv_leaves_the_old_file_on_error(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("old")
    with pytest.raises(ValueError, match="dict contains fields not in fieldnames"):
        bench.write_csv([ROWS[0], {**ROWS[1], "extra": 1}], path)
    assert path.read_text() == "old"


def test_write_markdown(tmp_path):
    env = {"numpy": np.__version__, "cpus": "2"}
    path = tmp_path / "r.md"
    bench.write_markdown(ROWS, path, env=env, command="x", notes="## Notes\n")
    text = path.read_text()
    assert text.startswith("# Inference benchmark")
    assert "Command: `x`" in text
    assert f"| numpy | {np.__version__} |" in text
    assert bench.format_table(ROWS) in text
    assert text.endswith("## Notes\n")
    assert os.listdir(tmp_path) == ["r.md"]


def test_explain_names_the_targets_and_sizes():
    text = bench.explain(ROWS, widths=(30, 20, 1))
    assert "How format='auto' chooses" in text
    assert "sparsity 0.9, batch 1: auto x1.50 vs target x1.2: **met**" in text
    assert "## Size of the 90 %-sparse model 30 -> 20 -> 1 (bytes)" in text
    assert "sc_auto more than 5 % slower than numpy dense: none" in text


def test_environment_lists_versions():
    env = bench.environment()
    assert env["numpy"] == np.__version__
    assert "scipy" in env and "python" in env


def test_environment_is_the_one_record():
    assert bench.environment is environment


# ------------------------------------------------ NumPy-only columns, README

NUMPY_ROWS = [
    _row("numpy_dense", 1.0, sparsity=0.95),
    _row("sc_numpy", 1.6, sparsity=0.95),
    _row("sc_numpy_auto", 2.0, sparsity=0.95),
    _row("numpy_dense", 1.0, sparsity=0.99, batch=16),
    _row("sc_numpy", 5.0, sparsity=0.99, batch=16),
    _row("sc_numpy_load", 0.9, sparsity=0.99, batch=16),
    _row("sc_auto", 3.0, sparsity=0.99, batch=16),
    _row("sc_scipy_auto", 3.5, sparsity=0.99, batch=16),
]


def test_numpy_target_column():
    lines = bench.format_table(NUMPY_ROWS).splitlines()
    assert lines[0].endswith("| target (auto) | target (numpy) |")
    assert lines[2].endswith("| csr >= x1.5 met |")  # 0.95 / 1
    assert lines[3].endswith("| csr >= x6 MISSED; auto < x0.95 MISSED |")  # 0.99 / 16
    # no NumPy-only method: no column (the table as before)
    assert "target (numpy)" not in bench.format_table(ROWS)


def test_explain_numpy_targets_and_the_fast_extra():
    text = bench.explain(NUMPY_ROWS, widths=(30, 20, 1))
    assert "## NumPy-only targets (sc_numpy: every layer CSR)" in text
    assert "sparsity 0.95, batch 1: sc_numpy x1.60 vs target x1.5: **met**" in text
    assert "sparsity 0.99, batch 16: sc_numpy x5.00 vs target x6: **MISSED**" in text
    # bytes moved: 10 nonzeros x (8 + 4 + 4 accesses x 4 B) at batch 1
    assert "it moves ~0.00 MB" in text
    assert (
        "sc_numpy_load more than 5 % slower than numpy dense: float32 sparsity " in text
    )
    assert (
        "sc_numpy_auto more than 5 % slower than numpy dense: none (lowest x2.00)"
        in text
    )
    assert (
        "sc_auto (numba allowed) more than 5 % slower than sc_scipy_auto (auto "
        "without the fast extra): float32 sparsity 0.99 batch 16 (x3.00 vs x3.50) "
        "(the same plan: timing noise)"
    ) in text
    other = [
        dict(r, formats="csr/scipy") if r["method"] == "sc_scipy_auto" else r
        for r in NUMPY_ROWS
    ]
    text = bench.explain(other, widths=(30, 20, 1))
    assert "batch 16 (x3.00 vs x3.50)\n" in text


def test_csv_carries_the_environment_and_reads_back(tmp_path):
    path = tmp_path / "r.csv"
    env = {"cpu": "AMD EPYC", "blas threads": "openblas 2", "cpus": "2"}
    bench.write_csv(ROWS, path, env=env)
    with open(path, newline="") as f:
        back = list(csv.DictReader(f))
    assert back[0]["env_cpu"] == "AMD EPYC"
    assert back[0]["env_blas_threads"] == "openblas 2"
    assert back[0]["env_numba"] == ""  # not in the record
    rows = bench.read_csv(path)
    for a, b in zip(rows, ROWS, strict=True):
        for k, v in b.items():
            assert rows and a[k] == v, k
    bad = tmp_path / "bad.csv"
    bad.write_text(path.read_text().replace("False", "maybe", 1))
    with pytest.raises(ValueError, match="row 1: structured must be True or False"):
        bench.read_csv(bad)


def test_readme_table_and_update(tmp_path):
    rows = [
        *ROWS,
        _row("sc_numpy", 2.0),
        _row("sc_load", 1.4),
        _row("numpy_dense", 1.0, sparsity=0.75, structured=True, batch=256),
    ]
    table = bench.report.readme_table(rows)
    lines = table.splitlines()
    head = "| sparsity | batch | NumPy dense | auto | load-time auto | NumPy-only CSR |"
    assert lines[0] == head
    assert lines[2] == "| 0.9 | 1 | 100 µs | x1.50 | x1.40 | x2.00 |"
    assert lines[3] == "| 0.75s | 256 | 100 µs | - | - | - |"
    assert len(lines) == 4  # the 0.5 / batch 16 cell is left out
    readme = tmp_path / "README.md"
    begin, end = bench.report.README_BEGIN, bench.report.README_END
    readme.write_text(f"intro\n{begin}\nold table\n{end}\nafter\n")
    env_rows = [
        dict(r, env_cpu="AMD EPYC", env_blas_threads="openblas 2") for r in rows
    ]
    bench.update_readme(readme, env_rows, "benchmarks/results/inference.csv")
    text = readme.read_text()
    assert text.startswith(f"intro\n{begin}\n{head}\n")
    assert "old table" not in text and text.endswith(f"{end}\nafter\n")
    assert "Generated from `benchmarks/results/inference.csv` (AMD EPYC" in text
    bench.update_readme(readme, env_rows, "x.csv")  # idempotent on its markers
    assert (
        text.replace("benchmarks/results/inference.csv", "x.csv") == readme.read_text()
    )
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="must hold"):
        bench.update_readme(readme, rows, "x.csv")


def test_the_cli_table_has_no_target_columns():
    rows = [*ROWS, _row("sc_numpy", 2.0)]
    assert "target (auto)" in bench.format_table(rows)  # benchmarks/ reports
    plain = bench.format_table(rows, markdown=False, targets=False)
    assert "target" not in plain and "MISSED" not in plain and "met" not in plain
    assert "x1.50" in plain and "x2.00" in plain


def test_not_run_says_which_methods_and_why():
    from sparsecore.bench.report import not_run

    cells = [("float32", False, 0.9, 1), ("float32", False, 0.5, 16)]
    reasons = {
        ("torch_dense", cells[0]): "PyTorch is not installed",
        ("torch_dense", cells[1]): "PyTorch is not installed",
        ("sc_auto", cells[1]): "too slow for the cell",
    }
    lines = not_run(ROWS, ["numpy_dense", "sc_auto", "torch_dense"], reasons)
    assert lines == [
        "  sc_auto: not run on 1 of 2 cells (0.5/batch 16): too slow for the cell",
        "  torch_dense: not run on any cell: PyTorch is not installed",
    ]
    assert not_run(ROWS, ["numpy_dense"], {}) == []
