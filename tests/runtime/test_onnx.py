"""SparseModel.to_onnx: onnxruntime runs the exported file as sparsecore does."""

import sys

import numpy as np
import pytest

from sparsecore.runtime import SparseModel
from tests.runtime.rt_helpers import ACTS, random_layers

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fmt", ["csr", "dense"])
@pytest.mark.parametrize("structured", [False, True])
def test_onnxruntime_agrees_with_predict(tmp_path, dtype, fmt, structured):
    rng = np.random.default_rng(0)
    layers = random_layers(rng, [9, 12, 10, 8, 6, 5, 4], ACTS, 0.7, structured)
    sm = SparseModel.from_layers(layers, format=fmt, dtype=dtype)
    path = tmp_path / "m.onnx"
    sm.to_onnx(path)
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Gemm") == len(sm.layers)
    assert {"Relu", "LeakyRelu", "Tanh", "Sigmoid", "Softmax"} <= set(ops)
    # compacted: the initializers have the shapes sparsecore runs
    shapes = {i.name: tuple(i.dims) for i in model.graph.initializer}
    for i, layer in enumerate(sm.layers):
        assert shapes[f"W{i}"] == (layer.shape[1], layer.shape[0])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 7):  # the batch dimension is symbolic
        x = rng.standard_normal((n, 9)).astype(dtype)
        (y,) = session.run(None, {"x": x})
        assert y.dtype == np.dtype(dtype) and y.shape == (n, sm.output_dim)
        tol = 1e-5 if dtype == "float32" else 1e-7
        np.testing.assert_allclose(y, sm.predict(x), rtol=tol, atol=tol)


def test_leaky_relu_slope_is_exported(tmp_path):
    sm = SparseModel.from_layers([(np.eye(2), None, ("leaky_relu", 0.25))])
    sm.to_onnx(tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    (y,) = session.run(None, {"x": np.array([[-4.0, 2.0]], np.float32)})
    assert y.tolist() == [[-1.0, 2.0]]


def test_missing_onnx_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    sm = SparseModel.from_layers([(np.eye(2), None, None)])
    with pytest.raises(ImportError, match=r'pip install "sparsecore\[onnx\]"'):
        sm.to_onnx(tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("opset", [12, True, 13.0])
def test_bad_opset(tmp_path, opset):
    sm = SparseModel.from_layers([(np.eye(2), None, None)])
    with pytest.raises(ValueError, match=r"opset must be an int in \[13, inf\)"):
        sm.to_onnx(tmp_path / "m.onnx", opset=opset)


def test_runtime_imports_no_onnx_at_import():
    import subprocess

    code = "import sys, sparsecore.runtime\nprint('onnx' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
