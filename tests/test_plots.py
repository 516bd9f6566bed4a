"""Tests for sparsecore.plots (skipped where matplotlib is not installed)."""

import sys

import pytest

from sparsecore import plots
from sparsecore.experiment import ExperimentConfig, run_experiment

PNG = b"\x89PNG\r\n\x1a\n"


def assert_drawn(path, min_size=(300, 400)):
    """`path` is a PNG of at least `min_size` pixels with a real drawing on it.

    Not a blank canvas: a sizeable share of the pixels are not background,
    and there are lines in several colours (the curves and their legend).
    """
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG
    img = imread(path)  # (height, width, channels) floats in [0, 1]
    assert img.shape[0] >= min_size[0] and img.shape[1] >= min_size[1], img.shape
    rgb = img[..., :3]
    background = (rgb > 0.98).all(axis=-1)
    ink = 1.0 - background.mean()
    assert 0.01 < ink < 0.9, f"{ink:.3f} of the pixels are drawn"
    colours = {tuple(c) for c in (rgb[~background] * 8).astype(int).reshape(-1, 3)}
    assert len(colours) >= 4, f"only {len(colours)} colours: a blank or flat image"


try:
    import matplotlib  # noqa: F401

    HAS_MPL = True
except ImportError:
    HAS_MPL = False
needs_mpl = pytest.mark.skipif(
    not HAS_MPL, reason="matplotlib (the `plot` extra) is not installed"
)


def test_require_matplotlib_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    with pytest.raises(ImportError) as info:
        plots.require_matplotlib("--plot")
    msg = str(info.value)
    assert msg == (
        "--plot needs matplotlib, which is not installed; install it with: "
        'pip install "sparsecore[plot]"'
    )
    assert "\n" not in msg


def test_importing_plots_does_not_import_matplotlib():
    import subprocess

    code = "import sys, sparsecore.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


@pytest.fixture(scope="module")
def result():
    cfg = ExperimentConfig.quick(
        n_samples=200,
        n_features=10,
        n_informative=5,
        hidden=(8,),
        epochs=3,
        batch_size=32,
        begin_step=2,
        end_step=10,
        frequency=2,
        timing_budget=0.0,
    )
    return run_experiment(cfg)


@needs_mpl
def test_plot_experiment_writes_png(result, tmp_path):
    path = tmp_path / "demo.png"
    plots.plot_experiment(result, path)
    assert_drawn(path)
    # the JSON form works too, and the extension picks the format
    plots.plot_experiment(result.to_dict(), tmp_path / "demo.svg")
    assert b"<svg" in (tmp_path / "demo.svg").read_bytes()[:500]


@needs_mpl
def test_plot_bench_writes_png(tmp_path):
    rows = [
        {"sparsity": s, "batch": b, "speedup": 1 + s * b / 100}
        for s in (0.5, 0.9)
        for b in (1, 16)
    ]
    path = tmp_path / "bench.png"
    plots.plot_bench(rows, path)
    assert_drawn(path)


@needs_mpl
def test_plot_leaves_no_partial_file(result, tmp_path):
    with pytest.raises(ValueError):
        plots.plot_experiment(result, tmp_path / "demo.notaformat")
    assert list(tmp_path.iterdir()) == []


@needs_mpl
def test_plot_schedule_writes_png(tmp_path):
    from sparsecore.prune import PolynomialDecay

    schedule = PolynomialDecay(0.0, 0.75, begin_step=1000, end_step=5000)
    path = tmp_path / "schedule.png"
    plots.plot_schedule(
        schedule, path, steps_per_epoch=8, marks={"200 epochs": 1600, "700": 5600}
    )
    assert_drawn(path)


@needs_mpl
def test_assert_drawn_refuses_a_blank_canvas(tmp_path):
    from matplotlib.figure import Figure

    blank = tmp_path / "blank.png"
    Figure(figsize=(6, 4.2)).savefig(blank, dpi=120)
    with pytest.raises(AssertionError, match="pixels are drawn"):
        assert_drawn(blank)


@needs_mpl
def test_plot_sweep_draws_methods_bands_and_dense(tmp_path):
    from sparsecore.sweep import Grid, summarize
    from tests.sweep.test_store import record

    grid = Grid(dataset="digits", methods=["magnitude", "random"],
                sparsities=[0.5, 0.9, 0.99], seeds=[0, 1])  # fmt: skip
    records = [
        record(
            c, 0.9 - c.sparsity * (0.5 if c.method == "random" else 0.1) + 0.01 * c.seed
        )
        for c in grid.cells()
    ]
    summary = summarize(records)
    for log_scale in (False, True):
        path = tmp_path / f"sweep{log_scale}.png"
        plots.plot_sweep(summary, path, log_scale=log_scale)
        assert_drawn(path)
    with pytest.raises(ValueError, match="metric must be one of"):
        plots.plot_sweep(summary, tmp_path / "x.png", metric="f1")


@needs_mpl
def test_plot_sparsity_curves_and_sensitivity_write_pngs(tmp_path):
    curves = {
        "ticket": [
            (0.0, 0.65, 0.01),
            (0.5, 0.7, 0.02),
            (0.9, 0.74, 0.01),
            (0.99, 0.5, 0.03),
        ],
        "random": [
            (0.0, 0.65, 0.01),
            (0.5, 0.66, 0.0),
            (0.9, 0.6, 0.02),
            (0.99, 0.2, 0.01),
        ],
    }
    path = tmp_path / "curves.png"
    plots.plot_sparsity_curves(
        curves, path, baseline=0.65, title="t", marks={"random": [0.99]}
    )
    assert_drawn(path)
    result = {
        "metric": "accuracy",
        "baseline": 0.8,
        "sparsities": [0.5, 0.9],
        "values": {"dense_0/kernel": [0.79, 0.6], "dense_1/kernel": [0.8, 0.75]},
    }
    path = tmp_path / "sensitivity.png"
    plots.plot_sensitivity(result, path)
    assert_drawn(path)
