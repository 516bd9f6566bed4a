"""ONNX export of a :class:`~sparsecore.runtime.SparseModel`.

:func:`export_onnx` writes the compacted network as it runs in sparsecore:
an input ``x`` of shape ``(batch, n_in)`` (``batch`` symbolic), per layer a
``Gemm`` ``Y = X W^T + b`` (``transB=1``) with ``W`` of shape
``(n_out, n_in)`` and ``b`` as dense initializers, then its activation
(``Relu``, ``LeakyRelu`` with the layer's ``alpha``, ``Tanh``, ``Sigmoid``,
``Softmax`` over the last axis; nothing for ``linear``), and the output ``y``
of shape ``(batch, n_out)``. CSR layers are exported dense: standard ONNX has
no sparse matrix product, so the file is as large as a dense model of the
compacted shapes. Float32 and float64 models are exported in their dtype.

The ``onnx`` package (the ``onnx`` extra) is imported only inside
:func:`export_onnx`, so :mod:`sparsecore.runtime` still imports with NumPy
alone; the model is checked with ``onnx.checker`` and written through the
safe writer (:func:`sparsecore.runtime.atomic.atomic_write`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from .atomic import atomic_write

if TYPE_CHECKING:
    from .model import SparseModel

__all__ = ["ONNX_OPS", "export_onnx"]

#: The ONNX operator of each activation (``linear`` has none).
ONNX_OPS = {
    "relu": "Relu",
    "leaky_relu": "LeakyRelu",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "softmax": "Softmax",
}
_PROTOBUF_LIMIT = 2**31 - 1  # a single protobuf message cannot be larger


def export_onnx(
    model: SparseModel, path: str | os.PathLike[str], *, opset: int = 17
) -> None:
    """Write `model` to `path` as an ONNX model (see the module notes).

    Parameters
    ----------
    model : SparseModel
    path : str or path-like
        Written atomically, used exactly as given.
    opset : int, default=17
        The ONNX opset (at least 13: ``Softmax`` over the last axis).

    Raises
    ------
    ImportError
        If the ``onnx`` package is missing.
    ValueError
        If `opset` is below 13, or the weights exceed the 2 GB a protobuf
        file can hold.
    """
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < 13:
        raise ValueError(f"opset must be an int in [13, inf); got {opset!r}")
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        raise ImportError(
            'SparseModel.to_onnx needs the onnx package: pip install "sparsecore[onnx]"'
        ) from None
    dense_bytes = sum(
        layer.shape[0] * layer.shape[1] * model.dtype.itemsize for layer in model.layers
    )
    if dense_bytes > _PROTOBUF_LIMIT - (1 << 20):
        raise ValueError(
            f"the dense weights ({dense_bytes} bytes) exceed the 2 GB an ONNX "
            "file without external data can hold"
        )
    elem = TensorProto.FLOAT if model.dtype == np.float32 else TensorProto.DOUBLE
    nodes: list[Any] = []
    inits: list[Any] = []
    h = "x"
    for i, layer in enumerate(model.layers):
        w = layer.kernel().T  # (n_out, n_in), dense
        inits.append(numpy_helper.from_array(np.ascontiguousarray(w), f"W{i}"))
        inits.append(numpy_helper.from_array(layer.bias, f"b{i}"))
        out = f"gemm{i}"
        nodes.append(
            helper.make_node(
                "Gemm", [h, f"W{i}", f"b{i}"], [out], name=f"layer{i}", transB=1
            )
        )
        act = ONNX_OPS.get(layer.activation)
        if act is not None:
            attrs: dict[str, Any] = {}
            if act == "LeakyRelu":
                attrs["alpha"] = float(layer.alpha)
            elif act == "Softmax":
                attrs["axis"] = -1
            nodes.append(
                helper.make_node(act, [out], [f"act{i}"], name=f"{act}{i}", **attrs)
            )
            out = f"act{i}"
        h = out
    nodes.append(helper.make_node("Identity", [h], ["y"], name="output"))
    graph = helper.make_graph(
        nodes,
        "sparsecore_SparseModel",
        [helper.make_tensor_value_info("x", elem, ["batch", model.input_dim])],
        [helper.make_tensor_value_info("y", elem, ["batch", model.output_dim])],
        initializer=inits,
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="sparsecore",
    )
    # IR version 8 is what opsets 13 to 17 need, and what older runtimes read.
    onnx_model.ir_version = (
        8
        if opset <= 17
        else helper.find_min_ir_version_for([helper.make_opsetid("", opset)])
    )
    onnx.checker.check_model(onnx_model)
    with atomic_write(path) as f:
        f.write(onnx_model.SerializeToString())
