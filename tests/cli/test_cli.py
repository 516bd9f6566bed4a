"""Tests for the ``sparsecore`` command, each run in a subprocess."""

import json
import math
import os
import signal
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from sparsecore.prune import keep_count
from sparsecore.runtime import atomic_savez

PNG = b"\x89PNG\r\n\x1a\n"
# matplotlib is in the `plot` extra, not in `test`: plots are checked when present.
try:
    import matplotlib  # noqa: F401

    HAS_MPL = True
except ImportError:
    HAS_MPL = False
PLOT = ["--plot", "demo.png"] if HAS_MPL else []


def run(*args, cwd=None, timeout=120):
    """Run ``python -m sparsecore ARGS``; return (code, stdout, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "sparsecore", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": ""},
    )
    return proc.returncode, proc.stdout, proc.stderr


def assert_one_line_error(code, err, expected_code, *needles):
    assert code == expected_code, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sparsecore: error: "), lines[0]  # one prefix
    for needle in needles:
        assert needle in lines[0]


@pytest.fixture
def weights(tmp_path):
    """An .npz like one exported from a framework: kernels, biases, an int."""
    rng = np.random.default_rng(0)
    arrays = {
        "dense/kernel": rng.standard_normal((48, 32)).astype(np.float32),
        "dense/bias": rng.standard_normal(32).astype(np.float32),
        "out/kernel": rng.standard_normal((32, 3)),  # float64
        "out/bias": np.zeros(3),
        "conv/kernel": rng.standard_normal((3, 3, 2, 4)).astype(np.float32),
        "embedding/ids": rng.integers(0, 9, size=(5, 6)),
        "step": np.int64(7),
    }
    path = tmp_path / "w.npz"
    np.savez(path, **arrays)
    return path, arrays


def load(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


# ----------------------------------------------------------------- top level
def test_version():
    from sparsecore import __version__

    code, out, _ = run("--version")
    assert code == 0 and out.strip() == f"sparsecore {__version__}"


def test_help_lists_commands_and_examples():
    code, out, _ = run("--help")
    assert code == 0
    for cmd in ("demo", "bench", "prune", "inspect"):
        assert cmd in out
    assert "examples:" in out


@pytest.mark.parametrize("command", ["demo", "bench", "prune", "inspect"])
def test_every_command_has_help_with_examples(command):
    code, out, err = run(command, "--help")
    assert code == 0, err
    assert "examples:" in out
    assert f"sparsecore {command}" in out.split("examples:")[1]


def test_no_command_is_a_one_line_usage_error():
    code, _, err = run()
    assert_one_line_error(code, err, 2, "COMMAND")


def test_unknown_command():
    code, _, err = run("train")
    assert_one_line_error(code, err, 2, "invalid choice: 'train'")


def test_python_dash_m_and_console_script_entry_point():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "sparsecore"]
    assert ep.value == "sparsecore.cli:main"


def test_startup_imports_nothing_heavy(weights):
    path, _ = weights
    code = (
        "import sys\n"
        "from sparsecore.cli import main\n"
        f"assert main(['inspect', {str(path)!r}]) == 0\n"
        "heavy = [m for m in ('matplotlib', 'torch', 'sklearn') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


# ----------------------------------------------------------------- inspect
def test_inspect_weights(weights):
    path, arrays = weights
    a = arrays["dense/kernel"].copy()
    a[:12] = 0  # 12 of 48 rows: sparsity 0.25
    np.savez(path, **{**arrays, "dense/kernel": a})
    code, out, err = run("inspect", path)
    assert code == 0, err
    lines = {ln.split()[0]: ln.split() for ln in out.splitlines()[2:] if ln.strip()}
    row = lines["dense/kernel"]
    assert row[1:] == ["48x32", "float32", f"{36 * 32:,}", "0.2500", f"{a.nbytes:,}"]
    assert lines["out/bias"][4] == "1.0000"  # all zeros
    assert lines["step"][1] == "scalar"
    assert "7 arrays" in out


def test_inspect_sparse_model(tmp_path):
    from sparsecore.runtime import SparseModel

    rng = np.random.default_rng(1)
    k0 = rng.standard_normal((20, 16)).astype(np.float32)
    k0[rng.random(k0.shape) < 0.9] = 0
    k1 = rng.standard_normal((16, 2)).astype(np.float32)
    sm = SparseModel.from_layers(
        [(k0, np.zeros(16, np.float32), "relu"), (k1, np.zeros(2, np.float32), None)],
        format="csr",
    )
    path = tmp_path / "model.npz"
    sm.save(path)
    code, out, err = run("inspect", path)
    assert code == 0, err
    assert "saved SparseModel" in out
    assert "csr" in out


def test_inspect_malformed_sparse_model(tmp_path):
    from sparsecore.runtime import SparseModel

    k = np.eye(4, dtype=np.float32)
    path = tmp_path / "model.npz"
    SparseModel.from_layers([(k, np.zeros(4, np.float32), None)], format="csr").save(
        path
    )
    arrays = load(path)
    arrays["layers/0/indices_1"] = arrays["layers/0/indices_1"] + 100  # out of range
    atomic_savez(path, arrays)
    code, _, err = run("inspect", path)
    assert_one_line_error(code, err, 1, "model.npz", "indices")


def _truncated(tmp_path, weights):
    path, _ = weights
    data = path.read_bytes()
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(data[: len(data) // 2])
    return bad


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p, w: p / "missing.npz", "no such file: "),
        (lambda p, w: p, "is a directory"),
        (
            lambda p, w: (p / "text.npz").write_text("hello") and p / "text.npz",
            "not an .npz file",
        ),
        (_truncated, "not"),
        (
            lambda p, w: (np.save(p / "a.npy", np.ones(3)), p / "a.npy")[1],
            "not an .npz file",
        ),
        (
            lambda p, w: (
                np.savez(p / "obj.npz", a=np.array([{"x": 1}], dtype=object)),
                p / "obj.npz",
            )[1],
            "object arrays",
        ),
        (
            lambda p, w: (np.savez(p / "empty.npz"), p / "empty.npz")[1],
            "holds no arrays",
        ),
    ],
    ids=["missing", "directory", "text", "truncated", "npy", "object", "empty"],
)
def test_inspect_malformed_file(tmp_path, weights, make, needle):
    path = make(tmp_path, weights)
    code, _, err = run("inspect", path)
    assert_one_line_error(code, err, 1, needle)


# ----------------------------------------------------------------- prune
@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.75, 0.999])
def test_prune_reaches_the_sparsity_exactly(tmp_path, weights, sparsity):
    path, arrays = weights
    out_path = tmp_path / "p.npz"
    code, out, err = run("prune", path, "-o", out_path, "--sparsity", sparsity)
    assert code == 0, err
    pruned = load(out_path)
    assert sorted(pruned) == sorted(arrays)
    for name in ("dense/kernel", "out/kernel"):
        a, b = arrays[name], pruned[name]
        assert b.dtype == a.dtype and b.shape == a.shape
        assert np.count_nonzero(b) == keep_count(a.size, sparsity)
        kept = b != 0
        np.testing.assert_array_equal(b[kept], a[kept])  # survivors unchanged
        # the largest magnitudes survive
        assert np.abs(a[kept]).min() >= np.abs(a[~kept]).max(initial=0)
    for name in ("dense/bias", "out/bias", "conv/kernel", "embedding/ids", "step"):
        np.testing.assert_array_equal(pruned[name], arrays[name])
        assert pruned[name].dtype == arrays[name].dtype
    assert "dense/kernel" in out and "pruned" in out
    assert "kept (1-D" in out and "kept (4-D" in out and "not floating" in out
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_prune_report_numbers(tmp_path, weights):
    path, _ = weights
    code, out, err = run("prune", path, "-o", tmp_path / "p.npz", "--sparsity", "0.75")
    assert code == 0, err
    row = next(ln.split() for ln in out.splitlines() if ln.startswith("dense/kernel"))
    assert row[1:6] == ["48x32", "0.0000", "0.7500", "384", "pruned"]


def test_prune_global(tmp_path, weights):
    path, arrays = weights
    out_path = tmp_path / "p.npz"
    code, _, err = run(
        "prune", path, "-o", out_path, "--sparsity", "0.6", "--scope", "global"
    )
    assert code == 0, err
    pruned = load(out_path)
    names = ("dense/kernel", "out/kernel")
    total = sum(arrays[n].size for n in names)
    assert sum(np.count_nonzero(pruned[n]) for n in names) == keep_count(total, 0.6)


def test_prune_structured_removes_whole_columns(tmp_path, weights):
    path, arrays = weights
    out_path = tmp_path / "p.npz"
    code, _, err = run(
        "prune",
        path,
        "-o",
        out_path,
        "--sparsity",
        "0.5",
        "--criterion",
        "structured",
        "--include",
        "dense/*",
    )
    assert code == 0, err
    b = load(out_path)["dense/kernel"]
    zero_cols = np.all(b == 0, axis=0)
    assert zero_cols.sum() == 32 - keep_count(32, 0.5)
    assert np.all(b[:, ~zero_cols] != 0)
    np.testing.assert_array_equal(load(out_path)["out/kernel"], arrays["out/kernel"])


def test_prune_nm(tmp_path, weights):
    path, _ = weights
    out_path = tmp_path / "p.npz"
    code, out, err = run(
        "prune", path, "-o", out_path, "--nm", "2:4", "--include", "dense/kernel"
    )
    assert code == 0, err
    b = load(out_path)["dense/kernel"]
    groups = (b != 0).reshape(12, 4, 32)  # groups of 4 along the input axis
    assert np.all(groups.sum(axis=1) == 2)
    assert "N:M 2:4" in out


def test_prune_block(tmp_path, weights):
    path, _ = weights
    out_path = tmp_path / "p.npz"
    code, _, err = run(
        "prune",
        path,
        "-o",
        out_path,
        "--sparsity",
        "0.5",
        "--block",
        "4x4",
        "--include",
        "dense/kernel",
    )
    assert code == 0, err
    blocks = (load(out_path)["dense/kernel"] != 0).reshape(12, 4, 8, 4)
    per_block = blocks.sum(axis=(1, 3))
    assert set(np.unique(per_block)) <= {0, 16}
    assert (per_block == 16).sum() == keep_count(96, 0.5)


def test_prune_random_is_seeded(tmp_path, weights):
    path, _ = weights
    outs = []
    for i, seed in enumerate((1, 1, 2)):
        out_path = tmp_path / f"p{i}.npz"
        code, _, err = run(
            "prune",
            path,
            "-o",
            out_path,
            "--sparsity",
            "0.5",
            "--criterion",
            "random",
            "--seed",
            seed,
        )
        assert code == 0, err
        outs.append(load(out_path)["dense/kernel"] != 0)
    assert np.array_equal(outs[0], outs[1]) and not np.array_equal(outs[0], outs[2])
    assert outs[0].sum() == keep_count(48 * 32, 0.5)


def test_prune_compress_and_overwrite_in_place(tmp_path, weights):
    path, arrays = weights
    before = path.read_bytes()
    # -o onto the input itself would destroy the dense original: refused ...
    code, _, err = run("prune", path, "-o", path, "--sparsity", "0.9", "--compress")
    assert_one_line_error(code, err, 1, "is the input file itself", "--in-place")
    assert path.read_bytes() == before
    # ... unless the user says so
    code, _, err = run("prune", path, "--in-place", "--sparsity", "0.9", "--compress")
    assert code == 0, err
    with zipfile.ZipFile(path) as zf:
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
    assert np.count_nonzero(load(path)["dense/kernel"]) == keep_count(48 * 32, 0.9)


@pytest.mark.parametrize(
    ("args", "exit_code", "needle"),
    [
        (["--sparsity", "1.0"], 2, "sparsity must be a float in [0, 1); got '1.0'"),
        (["--sparsity", "-0.1"], 2, "got '-0.1'"),
        (["--sparsity", "lots"], 2, "got 'lots'"),
        (["--sparsity", "0.5", "--criterion", "l2"], 2, "invalid choice: 'l2'"),
        (["--sparsity", "0.5", "--scope", "model"], 2, "invalid choice: 'model'"),
        (["--sparsity", "0.5", "--block", "4"], 2, "HxW"),
        (["--nm", "2-4"], 2, "N:M"),
        ([], 1, "needs --sparsity"),
        (["--nm", "4:4"], 1, "0 <= N < M"),
        (["--nm", "2:4", "--sparsity", "0.5"], 1, "do not also give --sparsity"),
        (
            ["--sparsity", "0.5", "--scope", "global", "--criterion", "random"],
            1,
            "--scope global needs --criterion magnitude",
        ),
        (
            ["--sparsity", "0.5", "--block", "2x2", "--criterion", "structured"],
            1,
            "--block needs --criterion magnitude",
        ),
        (["--sparsity", "0.5", "--include", "nothing*"], 1, "no array to prune"),
    ],
)
def test_prune_bad_options(tmp_path, weights, args, exit_code, needle):
    path, _ = weights
    out_path = tmp_path / "p.npz"
    code, _, err = run("prune", path, "-o", out_path, *args)
    assert_one_line_error(code, err, exit_code, needle)
    assert not out_path.exists()


def test_prune_bad_files(tmp_path, weights):
    path, arrays = weights
    code, _, err = run(
        "prune", tmp_path / "none.npz", "-o", tmp_path / "p.npz", "--sparsity", "0.5"
    )
    assert_one_line_error(code, err, 1, "no such file")
    code, _, err = run(
        "prune", path, "-o", tmp_path / "no" / "p.npz", "--sparsity", "0.5"
    )
    assert_one_line_error(code, err, 1, "does not exist")
    bad = {**arrays, "dense/kernel": np.full((4, 4), np.nan, np.float32)}
    np.savez(path, **bad)
    code, _, err = run("prune", path, "-o", tmp_path / "p.npz", "--sparsity", "0.5")
    assert_one_line_error(code, err, 1, "'dense/kernel'", "finite")


# ----------------------------------------------------------------- demo
@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    code, out, err = run(
        "demo",
        "--quick",
        "--json",
        "demo.json",
        *PLOT,
        "--save-dir",
        ".",
        cwd=folder,
        timeout=300,
    )
    return folder, code, out, err


def test_demo_quick_end_to_end(quick_demo):
    folder, code, out, err = quick_demo
    assert code == 0, err
    assert "Traceback" not in err and "warning" not in err  # schedule completes
    epochs = 30
    assert out.startswith("sparsecore demo: two runs of 30 epochs x 13 steps (seconds)")
    for label in ("dense", "pruned"):
        # piped: the progress line is printed plainly, at most every 15 s, and
        # always at the end of the run; each line has elapsed time and values
        lines = [ln for ln in out.splitlines() if ln.startswith(f"[{label}] epoch")]
        assert 2 <= len(lines) <= epochs
        assert lines[0].startswith(f"[{label}] epoch  1/{epochs}  elapsed ")
        assert "ETA" in lines[0] and "loss" in lines[0]
        assert lines[-1].startswith(f"[{label}] epoch  {epochs}/{epochs}  elapsed ")
    assert "0.000000" not in out  # tiny losses keep their digits (4 significant)
    d = json.loads((folder / "demo.json").read_text())
    for run_ in ("dense", "pruned"):
        assert len(d[run_]["val_loss"]) == epochs
        assert d[run_]["final_val_loss"] == d[run_]["val_loss"][-1]
        assert f"{d[run_]['final_val_loss']:.4g}" in out
    kernels = [w for w in d["sparsity"]["pruned"]["weights"] if w["pruned"]]
    for w in kernels:
        assert w["nonzeros"] == keep_count(w["size"], 0.75)
    assert d["schedule"]["completed"] is True
    assert "kernel sparsity" in out and "0.7500" in out
    assert d["file_bytes"]["pruned_csr"] < d["file_bytes"]["dense"]
    assert "inference of the pruned model  dense kernels  SparseModel" in out
    assert "'dense kernels' runs the pruned model's weights as dense matrices" in out
    if HAS_MPL:
        assert (folder / "demo.png").read_bytes()[:8] == PNG
    for name, size in d["file_bytes"].items():
        assert (folder / f"{name}.npz").stat().st_size == size


def test_demo_saved_model_is_inspectable(quick_demo):
    folder, code, _, _ = quick_demo
    assert code == 0
    code, out, err = run("inspect", folder / "pruned_csr.npz")
    assert code == 0, err
    assert "saved SparseModel" in out


def test_demo_warns_once_as_the_tutorial_finding(tmp_path):
    # 2 epochs x 13 steps = 26 steps < begin_step 100: nothing is pruned. The
    # pruner's warning is given once, phrased as the tutorial's finding.
    code, out, err = run("demo", "--quick", "--epochs", "2", "-q", cwd=tmp_path)
    assert code == 0, err
    assert "Traceback" not in err
    from sparsecore.experiment import ExperimentConfig

    cfg = ExperimentConfig.quick(epochs=2)
    steps, end = 2 * cfg.steps_per_epoch, cfg.end_step
    notes = [ln for ln in err.splitlines() if ln.startswith("sparsecore: warning:")]
    assert notes == [
        "sparsecore: warning: as in the tutorial, the run ends at step "
        f"{steps}, before the schedule's last pruning step {end}, so the kernels "
        f"reach sparsity 0.000, not {cfg.final_sparsity:g}; "
        f"--epochs {math.ceil(end / cfg.steps_per_epoch)} lets it finish"
    ]
    assert "NOT completed" in out
    assert "[dense] epoch" not in out  # -q


@pytest.mark.parametrize(
    ("args", "exit_code", "needle"),
    [
        (["--final-sparsity", "1"], 2, "sparsity must be a float in [0, 1)"),
        (["--epochs", "0"], 2, "must be an int in [1, inf)"),
        (["--scope", "all"], 2, "invalid choice: 'all'"),
        (["--begin-step", "50", "--end-step", "10"], 1, "end_step must be"),
        (["--json", "no/such/dir/x.json"], 1, "does not exist"),
        (["--save-dir", "missing"], 1, "not an existing folder"),
    ],
)
def test_demo_bad_options(tmp_path, args, exit_code, needle):
    code, out, err = run("demo", "--quick", *args, cwd=tmp_path)
    assert_one_line_error(code, err, exit_code, needle)
    assert "epoch" not in out  # fails before training


def test_demo_plot_without_matplotlib(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['matplotlib'] = None\n"
        "from sparsecore.cli import main\n"
        "sys.exit(main(['demo', '--quick', '--plot', 'x.png']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert_one_line_error(
        proc.returncode,
        proc.stderr,
        1,
        "needs matplotlib",
        'pip install "sparsecore[plot]"',
    )
    assert "epoch" not in proc.stdout


# ----------------------------------------------------------------- bench
def test_bench_small_sweep(tmp_path):
    code, out, err = run(
        "bench",
        "--quick",
        "--sparsities",
        "0.5,0.99",
        "--batches",
        "1",
        "--methods",
        "sc_csr",
        "--no-structured",
        "--csv",
        "b.csv",
        *(["--plot", "b.png"] if HAS_MPL else []),
        cwd=tmp_path,
        timeout=300,
    )
    assert code == 0, err
    assert "Traceback" not in err
    table = out.split("speedup over numpy dense")[1]
    for cell in ("0.5      1  float32", "0.99      1  float32"):
        assert cell in table
    assert "crossover sparsity (sc_csr faster than dense from):" in out
    import csv

    with open(tmp_path / "b.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["sparsity"], r["method"]) for r in rows} == {
        (s, m) for s in ("0.5", "0.99") for m in ("numpy_dense", "sc_csr")
    }
    for r in rows:
        assert float(r["time_s"]) > 0
        if r["method"] == "numpy_dense":
            assert float(r["speedup"]) == 1.0
        else:
            assert f"x{float(r['speedup']):.2f}" in table
    if HAS_MPL:
        assert (tmp_path / "b.png").read_bytes()[:8] == PNG


@pytest.mark.parametrize(
    ("args", "exit_code", "needle"),
    [
        (["--sparsities", "0.5,1.2"], 2, "sparsities in [0, 1)"),
        (["--batches", "0"], 2, "batch sizes >= 1"),
        (["--dtype", "float16"], 2, "invalid choice: 'float16'"),
        (["--methods", "sc_csr,fast"], 1, "got fast"),
        (["--csv", "no/dir/b.csv"], 1, "does not exist"),
    ],
)
def test_bench_bad_options(tmp_path, args, exit_code, needle):
    code, out, err = run("bench", *args, cwd=tmp_path)
    assert_one_line_error(code, err, exit_code, needle)
    assert "timing" not in out


def test_crossover_interpolates():
    from sparsecore.cli._bench import crossovers

    def rows(batch, points):
        return [
            {
                "dtype": "float32",
                "batch": batch,
                "sparsity": s,
                "speedup": v,
                "method": "sc_csr",
                "structured": False,
            }
            for s, v in points
        ]

    r = rows(1, [(0.5, 0.4), (0.9, 0.8), (0.95, 1.2), (0.99, 4.0)])
    r += rows(16, [(0.5, 0.4), (0.99, 0.9)])
    r += rows(256, [(0.5, 1.1), (0.99, 3.0)])
    r += rows(1024, [(0.5, 1.1), (0.75, 0.9), (0.9, 1.5)])  # dips: last crossing
    lines = crossovers(r, "sc_csr")
    assert lines[0].strip().startswith("float32 batch    1: ~0.925")
    assert "never" in lines[1]
    assert "at or below 0.5" in lines[2]
    assert "~0.775" in lines[3]


def test_inspect_and_prune_a_checkpoint(tmp_path):
    import sparsecore as sc

    model = sc.Sequential([sc.Dense(4), sc.ReLU(), sc.Dense(1)], input_dim=3, seed=0)
    model.compile(loss="mse", optimizer="adam")
    path = tmp_path / "ckpt.npz"
    model.save(path)
    code, out, err = run("inspect", path)
    assert code == 0, err
    assert "(sparsecore.Checkpoint, version 2)" in out
    assert "weights/dense_0/kernel" in out
    code, _, err = run("prune", path, "-o", tmp_path / "p.npz", "--sparsity", "0.5")
    assert_one_line_error(code, err, 1, "is a sparsecore checkpoint")


# ----------------------------------------------------------------- issue 10
# In-process runs (fast): main() returns the exit code, capsys has the output.
@pytest.fixture
def cli(capsys):
    from sparsecore.cli import main

    def call(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return call


def _hostile_members():
    """Archives that once crashed the CLI (tracebacks, exhausted memory)."""
    from tests.runtime.zipcraft import Entry, build, deflate, npy, npy_raw, overlapping

    w = npy(np.ones((4, 4), np.float32))
    bad_deflate = bytearray(deflate(npy(np.arange(2000.0))))
    bad_deflate[40] ^= 0xFF

    def header(text):
        return build([Entry("w.npy", npy_raw(text, b"\0" * 16))])

    shape = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s,)}"
    return {
        "corrupt deflate": build(
            [Entry("w.npy", npy(np.arange(2000.0)), 8, raw=bytes(bad_deflate))]
        ),
        "encrypted": build([Entry("w.npy", w, flags=1)]),
        **{
            f"method {m}": build([Entry("w.npy", w, method=m, raw=b"x" * 20)])
            for m in (9, 12, 14, 98, 99)
        },
        "npy + zip": npy(np.ones(3)) + build([Entry("w.npy", w)]),
        "chained +": header(shape % ("+" * 4500 + "1")),
        "nested -": header(shape % ("-" * 9000 + "1")),
        "nested ~": header(shape % ("~" * 9000 + "1")),
        "4000 digits": header(shape % ("9" * 4000)),
        "shape (True,)": header(shape % "True"),
        "2**33 floats in 200 bytes": header(shape % str(2**33)),
        "zip bomb (overlap)": overlapping(
            [f"m{i}.npy" for i in range(50)], npy(np.zeros(1 << 14, np.uint8))
        ),
    }


@pytest.mark.parametrize("case", sorted(_hostile_members()))
@pytest.mark.parametrize("command", ["inspect", "prune"])
def test_hostile_files_give_one_error_line(tmp_path, cli, command, case):
    path = tmp_path / "w.npz"
    path.write_bytes(_hostile_members()[case])
    args = ["-o", tmp_path / "p.npz", "--sparsity", "0.5"] if command == "prune" else []
    code, out, err = cli(command, path, *args)
    assert_one_line_error(code, err, 1, str(path))
    assert "internal error" not in err and ".tmp" not in err
    assert not (tmp_path / "p.npz").exists()


def test_deeply_nested_json_header_is_only_a_string(tmp_path, cli):
    # A `header` member of 100,000 nested brackets once raised RecursionError:
    # it is not sparsecore JSON, so every command sees a string array.
    from tests.runtime.zipcraft import Entry, build, npy

    deep = np.array('{"format": "sparsecore.SparseModel", "layers": ' + "[" * 100_000
                    + "]" * 100_000 + "}")  # fmt: skip
    path = tmp_path / "deep.npz"
    path.write_bytes(build([Entry("header.npy", npy(deep))]))
    code, out, err = cli("inspect", path)
    assert (code, err) == (0, "") and "header" in out and "total (1 arrays)" in out
    code, _, err = cli("prune", path, "-o", tmp_path / "o.npz", "--sparsity", "0.5")
    assert_one_line_error(code, err, 1, "no array to prune")
    code, _, err = cli("deploy", path, "-o", tmp_path / "m.npz")
    assert_one_line_error(code, err, 1, "no Linear/Dense weight found")
    assert not (tmp_path / "o.npz").exists() and not (tmp_path / "m.npz").exists()


def test_bzip2_bomb_is_refused_without_reading_it(tmp_path, cli):
    # 1 KB declaring gigabytes: the method is refused before any byte inflates.
    import bz2
    import resource

    from tests.runtime.zipcraft import Entry, build, npy_raw

    text = repr({"descr": "<f4", "fortran_order": False, "shape": (2**28,)})
    raw = bz2.compress(npy_raw(text) + b"\0" * (1 << 20))
    path = tmp_path / "bomb.npz"
    path.write_bytes(build([Entry("w.npy", b"", 12, raw=raw, usize=2**30)]))
    assert path.stat().st_size < 2000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for command in (
        ["inspect", path],
        ["prune", path, "-o", tmp_path / "o.npz", "--sparsity", "0.5"],
    ):
        code, _, err = cli(*command)
        assert_one_line_error(code, err, 1, "compression method 12, bzip2")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB
    assert not (tmp_path / "o.npz").exists()


def test_prune_copies_other_members_byte_for_byte(tmp_path, cli):
    from tests.runtime.zipcraft import Entry, build, npy

    config = b'{"units": [48, 32]}\n\x00\x00'  # trailing NULs survive
    w = np.random.default_rng(0).standard_normal((48, 32)).astype(np.float32)
    blob = build([Entry("config.json", config, 8), Entry("k.npy", npy(w))])
    (tmp_path / "w.npz").write_bytes(blob)
    code, out, err = cli(
        "prune", tmp_path / "w.npz", "-o", tmp_path / "p.npz", "--sparsity", "0.5"
    )
    assert code == 0, err
    assert "config.json" in out and "copied" in out
    with zipfile.ZipFile(tmp_path / "p.npz") as zf:
        assert sorted(zf.namelist()) == ["config.json", "k.npy"]  # not config.json.npy
        assert zf.read("config.json") == config
    code, out, _ = cli("inspect", tmp_path / "p.npz")
    assert code == 0 and "config.json" in out and "(not .npy)" in out


def test_prune_reads_fortran_ordered_and_big_endian_weights(tmp_path, cli):
    rng = np.random.default_rng(0)
    k = np.asfortranarray(rng.standard_normal((48, 32)).astype(np.float32))
    big = rng.standard_normal((16, 8)).astype(">f8")
    np.savez(tmp_path / "w.npz", k=k, big=big)
    code, _, err = cli(
        "prune", tmp_path / "w.npz", "-o", tmp_path / "p.npz", "--sparsity", "0.75"
    )
    assert code == 0, err
    out = load(tmp_path / "p.npz")
    for name, ref in (("k", k), ("big", big)):
        kept = out[name] != 0
        assert kept.sum() == keep_count(ref.size, 0.75)
        np.testing.assert_array_equal(out[name][kept], ref[kept])  # the same values
        assert np.abs(ref[kept]).min() >= np.abs(ref[~kept]).max()  # the largest


def test_prune_never_overwrites_its_input_unless_in_place(tmp_path, cli, weights):
    path, _ = weights
    before = path.read_bytes()
    link = tmp_path / "link.npz"
    link.symlink_to(path)
    hard = tmp_path / "hard.npz"
    os.link(path, hard)
    for out in (
        path,
        link,
        hard,
        str(path).replace(str(tmp_path), str(tmp_path) + "/."),
    ):
        code, _, err = cli("prune", path, "-o", out, "--sparsity", "0.5")
        assert_one_line_error(code, err, 1, "is the input file itself")
    assert path.read_bytes() == before
    code, _, err = cli(
        "prune", path, "--in-place", "-o", tmp_path / "other.npz", "--sparsity", "0.5"
    )
    assert_one_line_error(code, err, 1, "--in-place")
    code, _, err = cli("prune", path, "--sparsity", "0.5")
    assert_one_line_error(code, err, 1, "needs -o")
    code, _, err = cli("prune", link, "--in-place", "--sparsity", "0.5")
    assert code == 0, err
    assert link.is_symlink() and np.mean(load(path)["dense/kernel"] == 0) == 0.5


@pytest.mark.parametrize("command", ["prune", "bench"])
def test_outputs_that_are_not_regular_files_are_refused(
    tmp_path, cli, weights, command
):
    path, _ = weights
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "folder").mkdir()
    for out, needle in [
        ("/dev/full", "not a regular file"),
        ("/dev/null", "not a regular file"),
        (fifo, "not a regular file"),
        (tmp_path / "folder", "is a directory"),
        ("", "empty"),
        (tmp_path / "missing" / "o.npz", "does not exist"),
    ]:
        args = (
            ["prune", path, "-o", out, "--sparsity", "0.5"]
            if command == "prune"
            else ["bench", "--csv", out, "--quick"]
        )
        code, _, err = cli(*args)
        assert_one_line_error(code, err, 1, needle)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_prune_writes_through_a_symlinked_output(tmp_path, cli, weights):
    path, _ = weights
    target = tmp_path / "real.npz"
    target.write_bytes(b"old")
    os.chmod(target, 0o600)
    link = tmp_path / "out.npz"
    link.symlink_to(target)
    code, _, err = cli("prune", path, "-o", link, "--sparsity", "0.5")
    assert code == 0, err
    assert link.is_symlink() and "dense/kernel" in load(target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600  # the mode is kept


def test_unreadable_and_special_inputs_say_so(tmp_path, cli, weights, monkeypatch):
    path, _ = weights
    fifo = tmp_path / "in.npz"
    os.mkfifo(fifo)
    code, _, err = cli("inspect", fifo)  # refused at once, not blocked
    assert_one_line_error(code, err, 1, "FIFO")
    code, _, err = cli("inspect", "/dev/zero")
    assert_one_line_error(code, err, 1, "character device")
    real_open = os.open

    def denied(name, *args, **kwargs):  # root reads anything: simulate the EACCES
        if os.fspath(name) == str(path):
            raise PermissionError(13, "Permission denied", name)
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    for command in (
        ["inspect", path],
        ["prune", path, "-o", tmp_path / "o.npz", "--sparsity", "0.5"],
    ):
        code, _, err = cli(*command)
        assert_one_line_error(code, err, 1, "permission denied")
        assert "not an .npz" not in err


def test_write_errors_name_the_output_never_the_temp_file(
    tmp_path, cli, weights, monkeypatch
):
    path, _ = weights
    real_open = os.open

    def read_only(name, *args, **kwargs):
        if str(name).endswith(".tmp"):
            raise PermissionError(13, "Permission denied", name)
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    out = tmp_path / "o.npz"
    code, _, err = cli("prune", path, "-o", out, "--sparsity", "0.5")
    assert_one_line_error(code, err, 1, "Permission denied", str(out))
    assert ".tmp" not in err


_SLOW_PRUNE = """
import sys, time
import numpy as np
write_array = np.lib.format.write_array

def slow(*args, **kwargs):
    write_array(*args, **kwargs)
    print("writing", flush=True)
    time.sleep(60)

np.lib.format.write_array = slow
from sparsecore.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_during_prune_cleans_up(tmp_path, weights):
    # `timeout -s TERM sparsecore prune ...` used to leave a 13 MB .tmp behind
    path, _ = weights
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_PRUNE, "prune", str(path), "-o",
         str(tmp_path / "p.npz"), "--sparsity", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stdout.readline().strip() == "writing"
    assert any(n.endswith(".tmp") for n in os.listdir(tmp_path))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert err.strip() == "sparsecore: error: terminated"
    assert sorted(os.listdir(tmp_path)) == ["w.npz"]


def test_hostile_member_names_do_not_break_the_output(tmp_path, cli):
    from tests.runtime.zipcraft import Entry, build, npy

    name = "evil\nsparsecore: error: fake\x1b[2J"
    blob = build(
        [Entry(name + ".npy", npy(np.ones((4, 4), np.float32))), Entry(name, b"x")]
    )
    (tmp_path / "w.npz").write_bytes(blob)
    code, out, err = cli("inspect", tmp_path / "w.npz")
    assert code == 0, err
    assert "\x1b" not in out and "sparsecore: error: fake" not in out.splitlines()
    code, out, err = cli(
        "prune", tmp_path / "w.npz", "-o", tmp_path / "p.npz", "--sparsity", "0.5"
    )
    assert code == 0, err
    assert "\x1b" not in out


def test_prune_nm_pads_a_dimension_the_group_does_not_divide(tmp_path, weights):
    # 48 inputs in groups of 5: tfmot pads the last group (3 real weights) with
    # zeros, so each column keeps 3 of every full group and 3 of the last.
    out = tmp_path / "nm.npz"
    code, stdout, err = run(
        "prune", weights[0], "-o", out, "--nm", "2:5", "--include", "dense/kernel"
    )
    assert code == 0, err
    with np.load(out) as f:
        kernel = f["dense/kernel"]
    assert kernel.shape == (48, 32)
    per_column = np.count_nonzero(kernel, axis=0)
    assert (per_column == 9 * 3 + min(3, 48 - 45)).all()


def test_bench_says_which_methods_could_not_run_and_explains_its_marks(tmp_path):
    # torch made unimportable: the requested torch_dense is reported, not dropped
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "from sparsecore.cli import main\n"
        "sys.exit(main(['bench', '--quick', '--sparsities', '0.9', '--batches', '1',"
        " '--methods', 'sc_csr,torch_dense', '--no-structured', '--repeats', '1']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "requested but not run:" in out
    assert "  torch_dense: not run on any cell: PyTorch is not installed" in out
    assert "target" not in out  # the project's targets stay in benchmarks/
    assert "A '~' after the dense time means" in " ".join(out.split())
    assert "'re-run: disturbed cell'" in out
