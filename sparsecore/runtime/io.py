"""The ``.npz`` layout of a :class:`~sparsecore.runtime.SparseModel`: write and read.

:func:`save_sparse_model` writes the layers through the safe writer
(:mod:`sparsecore.runtime.atomic`) in the layout below (version 2);
:func:`load_sparse_model` reads it, and the version 1 files of earlier
sparsecore releases, through the defensive reader
(:mod:`sparsecore.runtime.npz`), validating every field before any array is
built, and raises :class:`~sparsecore.runtime.npz.SparseFormatError` for
anything wrong. ``docs/formats.md`` describes the layout for users.

Each layer's weight matrix is stored following the **binsparse** convention
(the Binary Sparse Format Specification, version 0.1: a JSON descriptor under
the key ``"binsparse"`` naming the format, shape, number of stored values and
the arrays' data types, beside arrays with the names the format defines),
stored as its Python reference implementation (``binsparse`` 0.1.4) stores it
in an ``.npz``: the descriptor in a ``binsparse`` member, its version written
``"0.1.0"``. So a binsparse reader given the members under ``layers/<i>/``, or
``scipy.sparse.csr_array((values, indices_1, pointers_to_1), shape)``, loads
a layer without sparsecore, and ``np.load(path, allow_pickle=False)`` reads
every member.
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
    "BINSPARSE_VERSION",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "READ_VERSIONS",
    "load_sparse_model",
    "save_sparse_model",
]


# ---------------------------------------------------------------- models
#
# Layout of a SparseModel archive, version 2 (every member a plain .npy):
#
#   header                       0-d str array: JSON, see below
#   layers/<i>/binsparse         0-d str array: {"binsparse": descriptor}
#   layers/<i>/values            CSR: (nnz,) float; DMATR: (n_out * n_in,) row-major
#   layers/<i>/indices_1         CSR: (nnz,) int32, the input of each value
#   layers/<i>/pointers_to_1     CSR: (n_out + 1,) int32, where each output's
#                                values start in values and indices_1
#   layers/<i>/bias              (n_out,) float
#
# The matrix of layer i is W, shape (n_out, n_in) (PyTorch's Linear.weight;
# the kernel is W.T), and the layer computes act(x @ W.T + bias). Its
# descriptor: {"version": "0.1.0", "format": "CSR" | "DMATR",
# "shape": [n_out, n_in], "number_of_stored_values": nnz, "data_types":
# {"pointers_to_1": "int32", "indices_1": "int32", "values": dtype}} (DMATR:
# only "values"). The header: {"format": "sparsecore.SparseModel",
# "version": 2, "dtype": "float32" | "float64", "input_dim": int,
# "batch_size": int, "layers": [{"n_in": int, "n_out": int, "activation": str,
# "alpha": float, "original_shape": [n_in, n_out]}, ...]}.
#
# Version 1 (still read): header layers also had "format" ("csr" | "dense")
# and "nnz"; members layers/<i>/bias, and layers/<i>/kernel_t (n_out, n_in)
# for a dense layer or layers/<i>/data, indices, indptr for a CSR one.

FORMAT_NAME = "sparsecore.SparseModel"
FORMAT_VERSION = 2
#: The versions :func:`load_sparse_model` reads.
READ_VERSIONS = (1, 2)
#: The binsparse specification version of the layers' descriptors (0.1, as
#: the reference implementation writes it; "0.1" is read too).
BINSPARSE_VERSION = "0.1.0"
_BINSPARSE_READ = ("0.1", "0.1.0")
_MAX_HEADER_CHARS = 1 << 20
_MAX_DESCRIPTOR_CHARS = 1 << 12
_MAX_DIM = (1 << 31) - 1
_HEADER_KEYS = {"format", "version", "dtype", "input_dim", "batch_size", "layers"}
_LAYER_KEYS = {"n_in", "n_out", "activation", "alpha", "original_shape"}
_LAYER_KEYS_V1 = _LAYER_KEYS | {"format", "nnz"}
_DESCRIPTOR_KEYS = {
    "version",
    "format",
    "shape",
    "number_of_stored_values",
    "data_types",
}
# binsparse format of each storage, and the members it defines.
_BINSPARSE = {"csr": "CSR", "dense": "DMATR"}
_CSR_ARRAYS = ("pointers_to_1", "indices_1", "values")


def _descriptor(
    fmt: str, n_in: int, n_out: int, nnz: int, dtype: str
) -> dict[str, Any]:
    types = {"pointers_to_1": "int32", "indices_1": "int32", "values": dtype}
    return {
        "version": BINSPARSE_VERSION,
        "format": _BINSPARSE[fmt],
        "shape": [n_out, n_in],
        "number_of_stored_values": nnz,
        "data_types": types if fmt == "csr" else {"values": dtype},
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
    dtype = model.dtype.name
    for i, layer in enumerate(model.layers):
        n_in, n_out = layer.shape
        w = layer.weight
        prefix = f"layers/{i}/"
        if isinstance(w, CSRMatrix):
            desc = _descriptor("csr", n_in, n_out, w.nnz, dtype)
            arrays[prefix + "binsparse"] = np.array(json.dumps({"binsparse": desc}))
            arrays[prefix + "pointers_to_1"] = w.indptr
            arrays[prefix + "indices_1"] = w.indices
            arrays[prefix + "values"] = w.data
        else:
            desc = _descriptor("dense", n_in, n_out, n_in * n_out, dtype)
            arrays[prefix + "binsparse"] = np.array(json.dumps({"binsparse": desc}))
            arrays[prefix + "values"] = np.ascontiguousarray(w).reshape(-1)
        arrays[prefix + "bias"] = layer.bias
        layers_meta.append(
            {
                "n_in": n_in,
                "n_out": n_out,
                "activation": layer.activation,
                "alpha": float(layer.alpha),
                "original_shape": [int(s) for s in layer.original_shape],
            }
        )
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "dtype": dtype,
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
    version = header.get("version")
    if isinstance(version, bool) or version not in READ_VERSIONS:
        r.fail(
            "header.version",
            f"unsupported version {version!r:.40}; this sparsecore reads "
            f"versions {', '.join(map(str, READ_VERSIONS))}",
        )
    layer_keys = _LAYER_KEYS_V1 if version == 1 else _LAYER_KEYS
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
        if not isinstance(lay, dict) or set(lay) != layer_keys:
            r.fail(field, f"must be an object with keys {sorted(layer_keys)}")
        if version == 1 and lay["format"] not in ("csr", "dense"):
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
        if version == 1:
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


def _read_descriptor(
    r: NpzArchive, i: int, lay: dict[str, Any], dtype: str
) -> tuple[str, int]:
    """Layer `i`'s binsparse descriptor, checked: ``(format, nnz)``."""
    field = f"layers/{i}/binsparse"
    if field not in r.members:
        r.fail(field, "missing member")
    outer = r.read_json(field, _MAX_DESCRIPTOR_CHARS)
    if not isinstance(outer, dict) or set(outer) != {"binsparse"}:
        r.fail(field, 'must be a JSON object {"binsparse": descriptor}')
    desc = outer["binsparse"]
    field += ".binsparse"
    if not isinstance(desc, dict) or set(desc) != _DESCRIPTOR_KEYS:
        got = sorted(desc) if isinstance(desc, dict) else type(desc).__name__
        r.fail(
            field, f"must be an object with keys {sorted(_DESCRIPTOR_KEYS)}; got {got}"
        )
    if not isinstance(desc["version"], str) or desc["version"] not in _BINSPARSE_READ:
        r.fail(
            field + ".version",
            f"must be {BINSPARSE_VERSION!r}; got {desc['version']!r:.40}",
        )
    formats = {v: k for k, v in _BINSPARSE.items()}
    if not isinstance(desc["format"], str) or desc["format"] not in formats:
        r.fail(
            field + ".format",
            f"must be 'CSR' or 'DMATR'; got {desc['format']!r:.40}",
        )
    fmt = formats[desc["format"]]
    n_in, n_out = lay["n_in"], lay["n_out"]
    if desc["shape"] != [n_out, n_in] or any(
        isinstance(d, bool) for d in desc["shape"]
    ):
        r.fail(
            field + ".shape",
            f"must be [n_out, n_in] = [{n_out}, {n_in}]; got {desc['shape']!r:.80}",
        )
    nnz = _check_int(
        r,
        field + ".number_of_stored_values",
        desc["number_of_stored_values"],
        0,
        n_in * n_out,
    )
    if fmt == "dense" and nnz != n_in * n_out:
        r.fail(
            field + ".number_of_stored_values",
            f"must be n_out * n_in = {n_in * n_out} for DMATR; got {nnz}",
        )
    expected = _descriptor(fmt, n_in, n_out, nnz, dtype)["data_types"]
    if desc["data_types"] != expected:
        r.fail(
            field + ".data_types",
            f"must be {json.dumps(expected)}; got {desc['data_types']!r:.120}",
        )
    return fmt, nnz


def _load_npz(r: NpzArchive) -> tuple[list[SparseLayer], int, int]:
    from .csr import CSRMatrix
    from .model import SparseLayer

    header = _read_header(r)
    v1 = header["version"] == 1
    dtype = np.dtype(header["dtype"]).newbyteorder("<")
    i32 = np.dtype("<i4")
    # (format, nnz, member names) per layer, every descriptor checked before
    # any array is read
    plan: list[tuple[str, int, dict[str, str]]] = []
    expected = ["header"]
    for i, lay in enumerate(header["layers"]):
        p = f"layers/{i}/"
        if v1:
            fmt, nnz = lay["format"], lay["nnz"]
            names = {"data": "data", "indices": "indices", "indptr": "indptr"}
            names |= {"kernel": "kernel_t"}
        else:
            fmt, nnz = _read_descriptor(r, i, lay, header["dtype"])
            names = {"data": "values", "indices": "indices_1"}
            names |= {"indptr": "pointers_to_1", "kernel": "values"}
            expected.append(p + "binsparse")
        names = {k: p + v for k, v in names.items()}
        stored = ("data", "indices", "indptr") if fmt == "csr" else ("kernel",)
        expected += [p + "bias", *(names[k] for k in stored)]
        plan.append((fmt, nnz, names))
    r.check_members(expected, missing_first=True)  # before any array is read
    layers = []
    for i, (lay, (fmt, nnz, names)) in enumerate(
        zip(header["layers"], plan, strict=True)
    ):
        p = f"layers/{i}/"
        n_in, n_out = lay["n_in"], lay["n_out"]
        bias = r.read(p + "bias", dtype, (n_out,))
        weight: CSRMatrix | np.ndarray
        if fmt == "csr":
            data = r.read(names["data"], dtype, (nnz,))
            indices = r.read(names["indices"], i32, (nnz,))
            indptr = r.read(names["indptr"], i32, (n_out + 1,))
            try:
                weight = CSRMatrix(data, indices, indptr, (n_out, n_in), check=True)
            except ValueError as e:
                r.fail(names["indptr"] + "/" + names["indices"].rsplit("/")[-1], str(e))
            values = data
            field = names["data"]
        else:
            shape = (n_out, n_in) if v1 else (n_out * n_in,)
            weight = r.read(names["kernel"], dtype, shape).reshape(n_out, n_in)
            values = weight
            field = names["kernel"]
        if not np.all(np.isfinite(values)):
            r.fail(field, "weights must be finite")
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
