"""``sparsecore prune`` and ``inspect`` on .safetensors, ``--save-masks``,
``--exclude``, the last-layer warning and the measured N:M sparsity."""

import numpy as np
import pytest

from sparsecore.prune import keep_count
from sparsecore.runtime import atomic_savez
from tests.cli.test_cli import assert_one_line_error

st_numpy = pytest.importorskip("safetensors.numpy")


@pytest.fixture
def cli(capsys):
    from sparsecore.cli import main

    def call(*args):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:
            code = e.code
        out, err = capsys.readouterr()
        return code, out, err

    return call


def state_dict(rng, widths=(20, 16, 10)):
    out = {}
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        out[f"{2 * i}.weight"] = rng.standard_normal((n_out, n_in)).astype("f4")
        out[f"{2 * i}.bias"] = rng.standard_normal(n_out).astype("f4")
    return out


@pytest.fixture
def st_file(tmp_path):
    arrays = state_dict(np.random.default_rng(0))
    path = tmp_path / "w.safetensors"
    path.write_bytes(st_numpy.save(arrays, metadata={"format": "pt"}))
    return path, arrays


def test_prune_safetensors_to_safetensors_and_masks(tmp_path, cli, st_file):
    path, arrays = st_file
    out, masks = tmp_path / "p.safetensors", tmp_path / "m.npz"
    code, stdout, err = cli(
        "prune", path, "-o", out, "--sparsity", "0.75", "--save-masks", masks
    )
    assert code == 0, err
    pruned = st_numpy.load_file(str(out))  # the package reads what we wrote
    assert sorted(pruned) == sorted(arrays)
    with open(out, "rb") as f:
        from safetensors import safe_open

        with safe_open(str(out), framework="np") as g:
            assert g.metadata() == {"format": "pt"}  # the metadata is kept
    del f
    with np.load(masks, allow_pickle=False) as m:
        assert sorted(m.files) == ["0.weight", "2.weight"]  # what was pruned
        for name in m.files:
            mask = m[name]
            assert mask.dtype == bool and mask.shape == arrays[name].shape
            assert mask.sum() == keep_count(mask.size, 0.75)
            np.testing.assert_array_equal(pruned[name] != 0, mask)
            np.testing.assert_array_equal(pruned[name][mask], arrays[name][mask])
    for name in ("0.bias", "2.bias"):
        np.testing.assert_array_equal(pruned[name], arrays[name])
    assert "ArrayPruner(masks=...)" in stdout


def test_prune_safetensors_to_npz_and_npz_to_safetensors(tmp_path, cli, st_file):
    path, arrays = st_file
    code, _, err = cli("prune", path, "-o", tmp_path / "p.npz", "--sparsity", "0.5")
    assert code == 0, err
    assert "metadata (1 keys) is not written" in err  # a warning, not an error
    with np.load(tmp_path / "p.npz") as f:
        assert sorted(f.files) == sorted(arrays)
    code, _, err = cli(
        "prune",
        tmp_path / "p.npz",
        "-o",
        tmp_path / "q.safetensors",
        "--sparsity",
        "0.5",
    )
    assert code == 0, err
    assert sorted(st_numpy.load_file(str(tmp_path / "q.safetensors"))) == sorted(arrays)


def test_prune_keeps_bfloat16_and_float16(tmp_path, cli):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file, save_file

    t = {"w.weight": torch.randn(8, 6).bfloat16(), "h.weight": torch.randn(4, 4).half()}
    save_file(t, str(tmp_path / "b.safetensors"))
    out = tmp_path / "o.safetensors"
    code, _, err = cli(
        "prune", tmp_path / "b.safetensors", "-o", out, "--sparsity", "0.5"
    )
    assert code == 0, err
    back = load_file(str(out))
    assert back["w.weight"].dtype == torch.bfloat16
    assert back["h.weight"].dtype == torch.float16
    for name, ref in t.items():
        kept = back[name] != 0
        assert int(kept.sum()) == keep_count(ref.numel(), 0.5)
        assert torch.equal(back[name][kept], ref[kept])  # exact survivors


def test_inspect_safetensors(tmp_path, cli, st_file):
    path, arrays = st_file
    code, out, err = cli("inspect", path)
    assert code == 0, err
    assert "(safetensors): 4 tensors" in out and "metadata: 1 keys (format)" in out
    row = next(ln.split() for ln in out.splitlines() if ln.startswith("0.weight"))
    assert row[1:4] == ["16x20", "F32", f"{np.count_nonzero(arrays['0.weight']):,}"]


def test_safetensors_is_recognised_by_content(tmp_path, cli, st_file):
    path, _ = st_file
    other = tmp_path / "weights.bin"
    other.write_bytes(path.read_bytes())
    code, out, err = cli("inspect", other)
    assert code == 0 and "(safetensors)" in out, err


def test_hostile_safetensors_one_error_line(tmp_path, cli):
    path = tmp_path / "h.safetensors"
    path.write_bytes((2**60).to_bytes(8, "little") + b"{}")
    for args in (["inspect", path], ["prune", path, "-o", tmp_path / "o.npz",
                                     "--sparsity", "0.5"],
                 ["deploy", path, "-o", tmp_path / "m.npz"]):  # fmt: skip
        code, _, err = cli(*args)
        assert_one_line_error(code, err, 1, str(path), "header length")
    assert not (tmp_path / "o.npz").exists()


def test_writing_safetensors_without_the_package(tmp_path, cli, st_file, monkeypatch):
    import sys

    path, _ = st_file
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    code, _, err = cli(
        "prune", path, "-o", tmp_path / "o.safetensors", "--sparsity", "0.5"
    )
    assert_one_line_error(code, err, 1, 'pip install "sparsecore[safetensors]"')


def test_exclude_wins_over_include(tmp_path, cli, st_file):
    path, arrays = st_file
    out = tmp_path / "p.npz"
    code, stdout, err = cli(
        "prune", path, "-o", out, "--sparsity", "0.9", "--include", "*.weight",
        "--exclude", "2.*",
    )  # fmt: skip
    assert code == 0, err
    with np.load(out) as f:
        np.testing.assert_array_equal(f["2.weight"], arrays["2.weight"])
        assert np.count_nonzero(f["0.weight"]) == keep_count(320, 0.9)
    assert "kept (excluded)" in stdout
    assert "output units" not in err  # the last layer is untouched


def test_structured_pruning_of_the_last_layer_warns(tmp_path, cli, st_file):
    path, _ = st_file
    code, _, err = cli(
        "prune", path, "-o", tmp_path / "p.npz", "--sparsity", "0.5",
        "--criterion", "structured", "--axis", "0",
    )  # fmt: skip
    assert code == 0, err
    warnings = [ln for ln in err.splitlines() if "output units" in ln]
    assert warnings == [
        "sparsecore: warning: pruning removed 5 of 10 output units of the last "
        "layer '2.weight' (whole rows are zero): those outputs (classes) can no "
        "longer be predicted; keep it with --exclude '2.*'"
    ]
    code, _, err = cli(
        "prune", path, "-o", tmp_path / "p.npz", "--sparsity", "0.5",
        "--criterion", "structured", "--axis", "0", "--exclude", "2.*",
    )  # fmt: skip
    assert code == 0 and "output units" not in err, err


def test_keras_last_layer_warning_uses_columns(tmp_path, cli):
    rng = np.random.default_rng(0)
    atomic_savez(
        tmp_path / "k.npz",
        {"dense/kernel": rng.standard_normal((6, 8)),
         "dense_1/kernel": rng.standard_normal((8, 4))},
    )  # fmt: skip
    code, _, err = cli(
        "prune", tmp_path / "k.npz", "-o", tmp_path / "p.npz", "--sparsity", "0.5",
        "--criterion", "structured",
    )  # fmt: skip
    assert code == 0
    assert "removed 2 of 4 output units of the last layer 'dense_1/kernel' " in err
    assert "(whole columns are zero)" in err and "--exclude 'dense_1/*'" in err


def test_nm_reports_the_measured_sparsity(tmp_path, cli):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((48, 8)).astype("f4")  # 48 inputs, groups of 5
    atomic_savez(tmp_path / "w.npz", {"k": w})
    code, out, err = cli("prune", tmp_path / "w.npz", "-o", tmp_path / "p.npz",
                         "--nm", "2:5")  # fmt: skip
    assert code == 0, err
    with np.load(tmp_path / "p.npz") as f:
        measured = 1 - np.count_nonzero(f["k"]) / w.size
    assert measured == pytest.approx(1 - (9 * 3 + 3) / 48)  # not 2/5
    assert f"measured sparsity {measured:.4f}, not 2/5" in out.splitlines()[0]


def test_save_masks_refuses_to_overwrite(tmp_path, cli, st_file):
    path, _ = st_file
    out = tmp_path / "o.npz"
    code, _, err = cli("prune", path, "-o", out, "--sparsity", "0.5",
                       "--save-masks", out)  # fmt: skip
    assert_one_line_error(code, err, 1, "would overwrite the input or the output")
