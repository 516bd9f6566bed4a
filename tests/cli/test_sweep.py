"""``sparsecore sweep``: the command end to end, resume, TOML, and bad input."""

import importlib.util
import json
import os

import pytest

from sparsecore.prune import keep_count
from tests.cli.test_cli import assert_one_line_error, run

try:
    import matplotlib  # noqa: F401

    HAS_MPL = True
except ImportError:
    HAS_MPL = False

ARGS = ["sweep", "--dataset", "regression", "--methods", "magnitude,random",
        "--sparsities", "0.5,0.9", "--seeds", "0", "--epochs", "2",
        "--hidden", "16"]  # fmt: skip


def test_sweep_runs_resumes_and_plots(tmp_path):
    out = tmp_path / "study"
    plot = ["--plot", str(tmp_path / "s.png"), "--log-x"] if HAS_MPL else []
    code, stdout, err = run(*ARGS, "--out", out, "--workers", "2", *plot)
    assert code == 0, err
    assert "5 cells (regression) on 2 local worker processes" in stdout
    assert "ran 5 cells, skipped 0 finished before, 0 failed" in stdout
    # the summary table: every kernel (100x16 and 16x1) keeps exactly k weights
    kept = keep_count(100 * 16, 0.9) + keep_count(16, 0.9)
    assert f"| magnitude | 0.9 | 1 | {1 - kept / (100 * 16 + 16):.4f} |" in stdout
    assert len(os.listdir(out / "cells")) == 5
    assert (out / "results.csv").read_text().count("\n") == 6
    if HAS_MPL:
        assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    code, stdout, err = run(*ARGS, "--out", out)
    assert code == 0, err
    assert "5 of 5 cells already finished" in stdout
    assert "ran 0 cells, skipped 5 finished before" in stdout


def test_sweep_from_a_toml_file(tmp_path):
    config = tmp_path / "g.toml"
    config.write_text(
        'dataset = "regression"\nmethods = ["random"]\n'
        "sparsities = [0.8]\nseeds = [0]\nepochs = 2\nhidden = [8]\n"
    )
    code, stdout, err = run("sweep", "--config", config, "--out", tmp_path / "o", "-q")
    assert code == 0, err
    assert "ran 2 cells" in stdout and "elapsed" not in stdout  # -q: no progress
    record = json.loads(
        next((tmp_path / "o" / "cells").glob("random_*.json")).read_text()
    )
    assert record["settings"]["sparsity"] == 0.8 and record["status"] == "ok"


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--methods", "lotery"], ["methods[0] must be one of", "'lotery'"]),
        (["--sparsities", "1.5"], ["sparsity must be a float in [0, 1)"]),
        (["--dataset", "cifar"], ["invalid choice: 'cifar'"]),
        (
            ["--scheduler", "tcp://127.0.0.1:9"],
            ["cannot reach the Dask scheduler"]
            if importlib.util.find_spec("distributed")
            else ["needs dask[distributed]", 'pip install "sparsecore[dist]"'],
        ),
    ],
)
def test_bad_input_is_one_line(tmp_path, args, needles):
    base = dict(zip(ARGS[1::2], ARGS[2::2], strict=True))
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["sweep", *[x for kv in base.items() for x in kv], "--out", tmp_path / "o"]
    code, _, err = run(*argv, timeout=60)
    expected = 2 if args[0] in ("--sparsities", "--dataset") else 1
    assert_one_line_error(code, err, expected, *needles)


def test_out_that_is_a_file_and_missing_axes(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    code, _, err = run(*ARGS, "--out", f)
    assert_one_line_error(code, err, 1, "is a file")
    code, _, err = run("sweep", "--dataset", "regression", "--out", tmp_path / "o")
    assert_one_line_error(code, err, 1, "sweep needs --methods, --sparsities")


def test_flags_complete_a_toml_file(tmp_path):
    # The file need not be a whole grid: the flags fill in and override it.
    config = tmp_path / "g.toml"
    config.write_text('dataset = "regression"\nmethods = ["random"]\nhidden = [8]\n')
    out = tmp_path / "o"
    code, stdout, err = run(
        "sweep", "--config", config, "--sparsities", "0.5", "--seeds", "0",
        "--epochs", "2", "--no-dense", "--out", out, "-q",
    )  # fmt: skip
    assert code == 0, err
    assert "ran 1 cells" in stdout
    record = json.loads(next((out / "cells").glob("random_*.json")).read_text())
    assert record["settings"]["sparsity"] == 0.5
    assert record["settings"]["hidden"] == [8]
    config.write_text('dataset = "regression"\nmethods = ["nope"]\n')
    code, _, err = run("sweep", "--config", config, "--sparsities", "0.5", "--out", out)
    assert_one_line_error(code, err, 1, str(config), "'nope'")
