"""The ``.npz`` layout of a :class:`~sparsecore.runtime.SparseModel`: write and read.

:func:`save_sparse_model` writes the layers (dense, or the CSR triple of the
transposed kernel) and a JSON header through the safe writer
(:mod:`sparsecore.runtime.atomic`); :func:`load_sparse_model` reads them back
through the defensive reader (:mod:`sparsecore.runtime.npz`), validating every
field before any array is built, and raises
:class:`~sparsecore.runtime.npz.SparseFormatError` for anything wrong.
"""

from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from .activations import ACTIVATION_NAMES
from .atomic import atomic_savez
from .npz import NpzArchive, SparseFormatError, open_npz

if TYPE_CHECKING:
    from .model import SparseLayer, SparseModel

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "load_sparse_model",
    "save_sparse_model",
]


# ---------------------------------------------------------------- models
#
# Layout of a SparseModel archive, version 1 (every member is a plain .npy):
#
#   header                 0-d str array: JSON, see _header()
#   layers/<i>/bias        (n_out,) float32|float64
#   layers/<i>/kernel_t    (n_out, n_in) float, for a "dense" layer
#   layers/<i>/data        (nnz,) float    \
#   layers/<i>/indices     (nnz,) int32     > for a "csr" layer: the CSR form
#   layers/<i>/indptr      (n_out + 1,) int32 / of the transposed kernel
#
# The JSON header is {"format": "sparsecore.SparseModel", "version": 1,
# "dtype": "float32"|"float64", "input_dim": int, "batch_size": int,
# "layers": [{"format": "csr"|"dense", "n_in": int, "n_out": int, "nnz": int,
# "activation": str, "alpha": float, "original_shape": [int, int]}, ...]}.

FORMAT_NAME = "sparsecore.SparseModel"
FORMAT_VERSION = 1
_MAX_HEADER_CHARS = 1 << 20
_MAX_DIM = (1 << 31) - 1
_HEADER_KEYS = {"format", "version", "dtype", "input_dim", "batch_size", "layers"}
_LAYER_KEYS = {
    "format",
    "n_in",
    "n_out",
    "nnz",
    "activation",
    "alpha",
    "original_shape",
}


def save_sparse_model(
    model: SparseModel, path: str | os.PathLike[str], *, compressed: bool = False
) -> None:
    """Write a :class:`~sparsecore.runtime.SparseModel` (see the layout above).

    Parameters
    ----------
    model : SparseModel
    path : str or path-like
        Used exactly as given; written atomically (:func:`atomic_write`).
    compressed : bool, default=False
        Deflate the members.
    """
    from .csr import CSRMatrix

    layers_meta = []
    arrays: dict[str, np.ndarray] = {}
    for i, layer in enumerate(model.layers):
        n_in, n_out = layer.shape
        w = layer.weight
        prefix = f"layers/{i}/"
        arrays[prefix + "bias"] = layer.bias
        if isinstance(w, CSRMatrix):
            arrays[prefix + "data"] = w.data
            arrays[prefix + "indices"] = w.indices
            arrays[prefix + "indptr"] = w.indptr
        else:
            arrays[prefix + "kernel_t"] = w
        layers_meta.append(
            {
                "format": layer.format,
                "n_in": n_in,
                "n_out": n_out,
                "nnz": layer.nnz if layer.format == "csr" else n_in * n_out,
                "activation": layer.activation,
                "alpha": float(layer.alpha),
                "original_shape": [int(s) for s in layer.original_shape],
            }
        )
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "dtype": model.dtype.name,
        "input_dim": model.input_dim,
        "batch_size": model.batch_size,
        "layers": layers_meta,
    }
    arrays = {"header": np.array(json.dumps(header)), **arrays}
    atomic_savez(path, arrays, compressed=compressed)


def _check_int(r: NpzArchive, field: str, v: Any, lo: int, hi: int = _MAX_DIM) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        r.fail(field, f"must be an int in [{lo}, {hi}]; got {v!r}")
    return int(v)


def _check_alpha(r: NpzArchive, field: str, alpha: Any, dtype: str) -> None:
    """A leaky-ReLU slope: a number finite *in the model's dtype*.

    ``float(10**400)`` overflows, and ``1e308`` is finite in float64 but
    infinite once cast to float32 (every negative input would become -inf).
    """
    limit = float(np.finfo(dtype).max)
    ok = isinstance(alpha, (int, float)) and not isinstance(alpha, bool)
    if ok:
        try:
            value = float(alpha)
        except OverflowError:  # an int beyond the float range
            ok = False
        else:
            ok = math.isfinite(value) and abs(value) <= limit
    if not ok:
        r.fail(
            field,
            f"must be a finite number in {dtype} (|alpha| <= {limit:.4g}); "
            f"got {alpha!r:.80}",
        )


def _read_header(r: NpzArchive) -> dict[str, Any]:
    if "header" not in r.members:
        r.fail("header", "missing member (not a sparsecore model file?)")
    header = r.read_json("header", _MAX_HEADER_CHARS)
    if not isinstance(header, dict):
        r.fail("header", f"must be a JSON object; got {type(header).__name__}")
    if header.get("format") != FORMAT_NAME:
        got = header.get("format")
        r.fail("header.format", f"must be {FORMAT_NAME!r}; got {got!r}")
    if header.get("version") != FORMAT_VERSION:
        r.fail(
            "header.version",
            f"unsupported version {header.get('version')!r}; this sparsecore "
            f"reads version {FORMAT_VERSION}",
        )
    if set(header) != _HEADER_KEYS:
        r.fail("header", f"keys must be {sorted(_HEADER_KEYS)}; got {sorted(header)}")
    if header["dtype"] not in ("float32", "float64"):
        got = header["dtype"]
        r.fail("header.dtype", f"must be 'float32' or 'float64'; got {got!r}")
    _check_int(r, "header.input_dim", header["input_dim"], 0)
    _check_int(r, "header.batch_size", header["batch_size"], 1)
    layers = header["layers"]
    if not isinstance(layers, list) or not 1 <= len(layers) <= 100_000:
        r.fail("header.layers", f"must be a non-empty list; got {layers!r:.80}")
    n = header["input_dim"]
    for i, lay in enumerate(layers):
        field = f"header.layers[{i}]"
        if not isinstance(lay, dict) or set(lay) != _LAYER_KEYS:
            r.fail(field, f"must be an object with keys {sorted(_LAYER_KEYS)}")
        if lay["format"] not in ("csr", "dense"):
            got = lay["format"]
            r.fail(field + ".format", f"must be 'csr' or 'dense'; got {got!r}")
        n_in = _check_int(r, field + ".n_in", lay["n_in"], 0)
        n_out = _check_int(r, field + ".n_out", lay["n_out"], 0)
        if n_in != n:
            r.fail(
                field + ".n_in",
                f"shapes do not chain: layer {i} has {n_in} inputs, the previous "
                f"output has {n}",
            )
        n = n_out
        _check_int(r, field + ".nnz", lay["nnz"], 0, n_in * n_out)
        if lay["format"] == "dense" and lay["nnz"] != n_in * n_out:
            r.fail(field + ".nnz", "must be n_in * n_out for a dense layer")
        if lay["activation"] not in ACTIVATION_NAMES:
            r.fail(
                field + ".activation",
                f"must be one of {list(ACTIVATION_NAMES)}; got {lay['activation']!r}",
            )
        if lay["activation"] == "softmax" and n_out == 0:
            r.fail(field + ".n_out", "a softmax layer needs at least 1 unit; got 0")
        _check_alpha(r, field + ".alpha", lay["alpha"], header["dtype"])
        orig = lay["original_shape"]
        if not (isinstance(orig, list) and len(orig) == 2):
            r.fail(field + ".original_shape", f"must be [n_in, n_out]; got {orig!r}")
        for s in orig:
            _check_int(r, field + ".original_shape", s, 0)
    return header


def load_sparse_model(
    path: str | os.PathLike[str],
) -> tuple[list[SparseLayer], int, int]:
    """Read and validate a model archive written by :func:`save_sparse_model`.

    Returns
    -------
    layers : list of SparseLayer
    input_dim : int
    batch_size : int

    Raises
    ------
    SparseFormatError
        For any problem with the file's content (message: file, field,
        problem), including unreadable, truncated or non-zip files.
    FileNotFoundError
        If ``path`` does not exist.
    PermissionError
        If it may not be read (the file itself may be fine).
    """
    path = os.fspath(path)
    # Only FileNotFoundError and PermissionError propagate; any other problem
    # with the path (a directory, a FIFO, ...) is a SparseFormatError.
    with open_npz(path, SparseFormatError) as r:
        return _load_npz(r)


def _load_npz(r: NpzArchive) -> tuple[list[SparseLayer], int, int]:
    from .csr import CSRMatrix
    from .model import SparseLayer

    header = _read_header(r)
    dtype = np.dtype(header["dtype"]).newbyteorder("<")
    i32 = np.dtype("<i4")
    expected = ["header"]
    for i, lay in enumerate(header["layers"]):
        csr = lay["format"] == "csr"
        names = ("data", "indices", "indptr") if csr else ("kernel_t",)
        expected += [f"layers/{i}/{name}" for name in ("bias", *names)]
    r.check_members(expected, missing_first=True)  # before any array is read
    layers = []
    for i, lay in enumerate(header["layers"]):
        p = f"layers/{i}/"
        n_in, n_out, nnz = lay["n_in"], lay["n_out"], lay["nnz"]
        bias = r.read(p + "bias", dtype, (n_out,))
        weight: CSRMatrix | np.ndarray
        if lay["format"] == "csr":
            data = r.read(p + "data", dtype, (nnz,))
            indices = r.read(p + "indices", i32, (nnz,))
            indptr = r.read(p + "indptr", i32, (n_out + 1,))
            try:
                weight = CSRMatrix(data, indices, indptr, (n_out, n_in), check=True)
            except ValueError as e:
                r.fail(p + "indptr/indices", str(e))
            values = data
        else:
            weight = r.read(p + "kernel_t", dtype, (n_out, n_in))
            values = weight
        if not np.all(np.isfinite(values)):
            r.fail(
                p + ("data" if lay["format"] == "csr" else "kernel_t"),
                "weights must be finite",
            )
        if not np.all(np.isfinite(bias)):
            r.fail(p + "bias", "must be finite")
        orig = tuple(lay["original_shape"])
        layers.append(
            SparseLayer(
                weight,
                bias,
                lay["activation"],
                float(lay["alpha"]) if lay["activation"] == "leaky_relu" else 0.0,
                (int(orig[0]), int(orig[1])),
            )
        )
    return layers, int(header["input_dim"]), int(header["batch_size"])
