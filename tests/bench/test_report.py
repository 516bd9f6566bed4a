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
