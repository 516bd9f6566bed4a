"""``sparsecore deploy`` and the layer inference behind it (sparsecore/cli/_layers.py).

The oracle for a deployed model is the network the weights came from: a
PyTorch ``nn.Sequential`` (when torch is importable) or the dense NumPy
forward pass of the same arrays.
"""

import numpy as np
import pytest

from sparsecore.cli._layers import LayerError, infer_layers, split_name
from sparsecore.runtime import SparseModel, atomic_savez
from tests.cli.test_cli import assert_one_line_error


@pytest.fixture
def cli(capsys):
    from sparsecore.cli import main

    def call(*args):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse: a malformed command line
            code = e.code
        out, err = capsys.readouterr()
        return code, out, err

    return call


def torch_like(rng, widths=(12, 16, 8, 3), names=None):
    """A state_dict of Linear layers: '<i>.weight' (out, in), '<i>.bias'."""
    names = names or [str(2 * i) for i in range(len(widths) - 1)]
    arrays = {}
    for name, n_in, n_out in zip(names, widths[:-1], widths[1:], strict=True):
        arrays[f"{name}.weight"] = rng.standard_normal((n_out, n_in)).astype("f4")
        arrays[f"{name}.bias"] = rng.standard_normal(n_out).astype("f4")
    return arrays


def forward(arrays, names, x, layout="torch", acts=None):
    h = x.astype(np.float64)
    for i, name in enumerate(names):
        sep = "." if layout == "torch" else "/"
        w = arrays[f"{name}{sep}{'weight' if layout == 'torch' else 'kernel'}"]
        k = w.T if layout == "torch" else w
        h = h @ k + arrays.get(f"{name}{sep}bias", 0)
        act = (acts or ["relu"] * (len(names) - 1) + ["linear"])[i]
        if act == "relu":
            h = np.maximum(h, 0)
        elif act == "tanh":
            h = np.tanh(h)
    return h


# ------------------------------------------------------------- layers
def test_split_name():
    assert split_name("0.weight") == ("0", "weight")
    assert split_name("model/dense_1/kernel:0") == ("model/dense_1", "kernel")
    assert split_name("bias") == ("", "bias")


def test_natural_order_and_layouts():
    shapes = {"fc10.weight": (2, 8), "fc2.weight": (8, 4), "fc1.weight": (4, 3)}
    layers, others = infer_layers(shapes)
    assert [s.prefix for s in layers] == ["fc1", "fc2", "fc10"]
    assert [s.kernel_shape for s in layers] == [(3, 4), (4, 8), (8, 2)]
    assert others == []
    keras = {"dense_1/kernel": (4, 2), "dense/kernel": (3, 4), "dense/bias": (4,)}
    layers, _ = infer_layers(keras)
    assert [s.prefix for s in layers] == ["dense", "dense_1"]
    assert layers[0].bias == "dense/bias" and layers[1].bias is None
    assert layers[0].layout == "keras" and layers[0].output_axis == 1


def test_file_order_when_the_names_do_not_chain():
    # input/hidden/output sort wrongly by name; the file's order chains
    shapes = {"input.weight": (8, 3), "hidden.weight": (5, 8), "output.weight": (2, 5)}
    layers, _ = infer_layers(shapes)
    assert [s.prefix for s in layers] == ["input", "hidden", "output"]


@pytest.mark.parametrize(
    ("shapes", "layout", "needle"),
    [
        ({"a": (3, 3)}, None, "no Linear/Dense weight found"),
        ({"a.weight": (3, 3), "b/kernel": (3, 3)}, None, "mix PyTorch"),
        (
            {"0.weight": (8, 3), "2.weight": (2, 7)},
            None,
            "shapes do not chain: '0.weight' (8x3, (out, in): 3 -> 8) has 8 outputs, "
            "but the next layer '2.weight' (2x7, (out, in): 7 -> 2) takes 7 inputs",
        ),
        (
            {"0.weight": (8, 3), "0.bias": (8,)},
            "keras",
            "'0.bias' has shape (8,), but the bias of '0.weight' (8x3, (in, out): "
            "8 -> 3) needs 3 entries; is the layout torch? (--layout torch)",
        ),
        (
            {"0.weight": (3, 8), "2.weight": (8, 5)},
            None,
            "is the layout keras? (--layout keras)",
        ),
    ],
)
def test_layer_errors_name_both_arrays(shapes, layout, needle):
    with pytest.raises(LayerError) as info:
        infer_layers(shapes, layout)
    assert needle in str(info.value)


# ------------------------------------------------------------- deploy
def test_deploy_torch_state_dict_matches_torch(tmp_path, cli):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8),
        torch.nn.ReLU(), torch.nn.Linear(8, 3),
    )  # fmt: skip
    with torch.no_grad():
        net[0].weight[:, :6] = 0  # pruned inputs: compaction keeps the function
    save_file(net.state_dict(), str(tmp_path / "w.safetensors"))
    code, out, err = cli("deploy", tmp_path / "w.safetensors", "-o", tmp_path / "m.npz")
    assert code == 0, err
    assert "3 layers, PyTorch (weights transposed) layout" in out
    rows = [ln.split() for ln in out.splitlines() if ln.startswith(("0 ", "2 ", "4 "))]
    assert [r[:3] for r in rows[:3]] == [
        ["0", "0.weight", "0.bias"],
        ["2", "2.weight", "2.bias"],
        ["4", "4.weight", "4.bias"],
    ]
    assert [r[-1] for r in rows[:3]] == ["relu", "relu", "linear"]
    sm = SparseModel.load(tmp_path / "m.npz")
    x = np.random.default_rng(1).standard_normal((5, 12)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(sm.predict(x), ref, rtol=1e-5, atol=1e-5)


def test_deploy_npz_keras_with_activations_and_options(tmp_path, cli):
    rng = np.random.default_rng(0)
    arrays = {
        "dense/kernel": rng.standard_normal((6, 5)),
        "dense/bias": rng.standard_normal(5),
        "dense_1/kernel": rng.standard_normal((5, 2)),
    }
    atomic_savez(tmp_path / "k.npz", arrays)
    code, out, err = cli(
        "deploy", tmp_path / "k.npz", "-o", tmp_path / "m.npz",
        "--activations", "tanh,linear", "--format", "csr", "--dtype", "float64",
        "--batch-size", "8",
    )  # fmt: skip
    assert code == 0, err
    assert "Keras layout" in out and "(none: zeros)" in out
    sm = SparseModel.load(tmp_path / "m.npz", format="saved")
    assert [la.format for la in sm.layers] == ["csr", "csr"]
    assert sm.dtype == np.float64 and sm.batch_size == 8
    x = rng.standard_normal((3, 6))
    ref = forward(arrays, ["dense", "dense_1"], x, "keras", ["tanh", "linear"])
    np.testing.assert_allclose(sm.predict(x), ref, rtol=1e-12)


@pytest.mark.parametrize(
    ("make", "args", "exit_code", "needle"),
    [
        (
            lambda r: torch_like(r),
            ["--activations", "relu"],
            1,
            "gives 1 activations for 3",
        ),
        (lambda r: torch_like(r), ["--activations", "gelu,relu"], 2, "got 'gelu'"),
        (lambda r: torch_like(r), ["--layout", "jax"], 2, "invalid choice: 'jax'"),
        (
            lambda r: {**torch_like(r), "bn.running_mean": np.zeros(3)},
            [],
            1,
            "'bn.running_mean' belong to no Linear/Dense layer",
        ),
        (
            lambda r: {
                k: v.T if k == "2.weight" else v for k, v in torch_like(r).items()
            },
            [],
            1,
            "'2.bias' has shape (8,), but the bias of '2.weight'",
        ),
        (
            lambda r: {"0.weight": np.ones((3, 3), np.int32)},
            [],
            1,
            "'0.weight' has dtype int32; weights must be floating point",
        ),
        (lambda r: torch_like(r), ["--layout", "keras"], 1, "--layout torch"),
    ],
)
def test_deploy_refuses_with_one_line(tmp_path, cli, make, args, exit_code, needle):
    atomic_savez(tmp_path / "w.npz", make(np.random.default_rng(0)))
    code, _, err = cli("deploy", tmp_path / "w.npz", "-o", tmp_path / "m.npz", *args)
    assert_one_line_error(code, err, exit_code, needle)
    assert not (tmp_path / "m.npz").exists()


def test_deploy_refuses_sparsecore_files(tmp_path, cli):
    sm = SparseModel.from_layers([(np.eye(3), None, None)])
    sm.save(tmp_path / "sm.npz")
    code, _, err = cli("deploy", tmp_path / "sm.npz", "-o", tmp_path / "m.npz")
    assert_one_line_error(code, err, 1, "is a saved SparseModel already")


def test_from_layers_hints_at_the_transposition():
    w = np.ones((256, 64), np.float32)  # a torch Linear(64, 256) weight as is
    with pytest.raises(ValueError, match=r"must be passed transposed \(weight.T\)"):
        SparseModel.from_layers([(w, np.zeros(256), "relu")])
    with pytest.raises(ValueError, match="is it a PyTorch Linear.weight"):
        SparseModel.from_layers(
            [(np.ones((3, 4)), None, "relu"), (np.ones((2, 4)), None, None)]
        )


def test_softmax_over_zero_units_is_refused_at_construction():
    with pytest.raises(ValueError, match="softmax over 0 units"):
        SparseModel.from_layers([(np.ones((3, 0)), None, "softmax")])
    sm = SparseModel.from_layers([(np.ones((3, 0)), None, "linear")])
    assert sm.predict(np.ones((2, 3))).shape == (2, 0)
