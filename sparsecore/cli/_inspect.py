"""``sparsecore inspect``: what a weights file holds, per array or per layer.

A plain ``.npz`` of arrays (weights, a checkpoint) or a ``.safetensors`` file
is listed per array, read one array at a time through the defensive readers
(memory: the largest array); ``.npz`` members that are not ``.npy`` are listed
with their size, a ``.safetensors`` file's metadata by its keys. A saved
:class:`~sparsecore.runtime.SparseModel` is loaded (and so validated) and
listed per layer.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from sparsecore._text import format_table, human_bytes
from sparsecore.cli._common import (
    CLIError,
    header_format,
    is_safetensors,
    is_sparse_model,
    open_archive,
    open_safetensors_file,
    say,
    shape_str,
    sparsity_of,
)
from sparsecore.runtime.npz import SparseFormatError, printable

__all__ = ["EXAMPLES", "HELP", "NAME", "add_arguments", "run"]

NAME = "inspect"
HELP = (
    "Print shape, sparsity and bytes per array of a weights .npz or "
    ".safetensors, or per layer of a saved SparseModel."
)
EXAMPLES = """\
examples:
  sparsecore inspect weights.npz     # any .npz of arrays: per-array sparsity
  sparsecore inspect model.safetensors
  sparsecore inspect model.npz       # a saved SparseModel: per-layer summary
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``inspect`` argument to its sub-parser."""
    p.add_argument("file", metavar="FILE")


def run(args: argparse.Namespace) -> int:
    """Run ``sparsecore inspect``; return the exit code."""
    path: str = args.file
    if is_safetensors(path):
        return _inspect_safetensors(path)
    rows = [["array", "shape", "dtype", "nonzeros", "sparsity", "bytes"]]
    total_n = total_nnz = total_bytes = n_arrays = 0
    with open_archive(path) as archive:
        try:
            fmt = header_format(archive)
            if is_sparse_model(fmt):
                return _inspect_sparse_model(path)
            if not archive.order:
                raise CLIError(f"{path}: the .npz file holds no arrays")
            for key, is_npy in archive.order:
                if not is_npy:
                    n_bytes = archive.others[key].file_size
                    row = [printable(key), "", "(not .npy)", "-", "-", f"{n_bytes:,}"]
                    rows.append(row)
                    total_bytes += n_bytes
                    continue
                a = archive.read_array(key)  # one member at a time
                n_arrays += 1
                numeric = a.dtype.kind in "biufc"
                nnz = int(np.count_nonzero(a)) if numeric else a.size
                rows.append(
                    [
                        printable(key),
                        shape_str(a),
                        str(a.dtype),
                        f"{nnz:,}" if numeric else "-",
                        f"{sparsity_of(a):.4f}" if numeric and a.size else "-",
                        f"{a.nbytes:,}",
                    ]
                )
                if numeric:
                    total_n += a.size
                    total_nnz += nnz
                total_bytes += a.nbytes
                del a
        except SparseFormatError as e:
            raise CLIError(str(e)) from None
    total_sparsity = 1.0 - total_nnz / total_n if total_n else 0.0
    others = len(archive.order) - n_arrays
    label = f"total ({n_arrays} arrays" + (f", {others} other" if others else "") + ")"
    rows.append(
        [
            label,
            "",
            "",
            f"{total_nnz:,}",
            f"{total_sparsity:.4f}",
            f"{total_bytes:,}",
        ]
    )
    kind = f" ({fmt[0]}, version {fmt[1]})" if fmt else ""
    size = human_bytes(os.path.getsize(path))
    say(f"{path}{kind}: {n_arrays} arrays, {size} on disk")
    say(format_table(rows, "lllrrr"))
    return 0


def _inspect_safetensors(path: str) -> int:
    rows = [["array", "shape", "dtype", "nonzeros", "sparsity", "bytes"]]
    total_n = total_nnz = total_bytes = 0
    with open_safetensors_file(path) as f:
        if not f.tensors:
            raise CLIError(f"{path}: the .safetensors file holds no tensors")
        try:
            for name, t in f.tensors.items():
                a = f.read(name)  # one tensor at a time
                nnz = int(np.count_nonzero(a))
                nbytes = t.end - t.begin
                rows.append(
                    [
                        printable(name),
                        shape_str(a),
                        t.dtype,
                        f"{nnz:,}",
                        f"{sparsity_of(a):.4f}" if a.size else "-",
                        f"{nbytes:,}",
                    ]
                )
                total_n += a.size
                total_nnz += nnz
                total_bytes += nbytes
                del a
        except SparseFormatError as e:
            raise CLIError(str(e)) from None
        metadata = f.metadata
    rows.append(
        [
            f"total ({len(rows) - 1} tensors)",
            "",
            "",
            f"{total_nnz:,}",
            f"{1.0 - total_nnz / total_n:.4f}" if total_n else "-",
            f"{total_bytes:,}",
        ]
    )
    size = human_bytes(os.path.getsize(path))
    say(f"{path} (safetensors): {len(rows) - 2} tensors, {size} on disk")
    say(format_table(rows, "lllrrr"))
    if metadata:
        keys = ", ".join(printable(k, 40) for k in list(metadata)[:8])
        more = f" and {len(metadata) - 8} more" if len(metadata) > 8 else ""
        say(f"metadata: {len(metadata)} keys ({keys}{more})")
    return 0


def _inspect_sparse_model(path: str) -> int:
    from sparsecore.runtime import SparseFormatError, SparseModel

    try:
        model = SparseModel.load(path, format="saved")
    except SparseFormatError as exc:  # names the file, the field and the problem
        raise CLIError(str(exc)) from None
    rows = [
        [
            "layer",
            "format",
            "activation",
            "kernel",
            "stored",
            "nonzeros",
            "sparsity",
            "bytes",
        ]
    ]
    total_n = total_nnz = 0
    for i, layer in enumerate(model.layers):
        n_in, n_out = layer.original_shape
        size = n_in * n_out
        nnz = layer.nnz
        total_n += size
        total_nnz += nnz
        rows.append(
            [
                str(i),
                layer.format,
                layer.activation,
                f"{n_in}x{n_out}",
                "x".join(str(d) for d in layer.shape),
                f"{nnz:,}",
                f"{1.0 - nnz / size:.4f}" if size else "-",
                f"{layer.nbytes:,}",
            ]
        )
    rows.append(
        [
            "total",
            "",
            "",
            "",
            "",
            f"{total_nnz:,}",
            f"{1.0 - total_nnz / total_n:.4f}" if total_n else "-",
            f"{model.nbytes:,}",
        ]
    )
    say(
        f"{path}: saved SparseModel ({len(model.layers)} layers, input_dim "
        f"{model.input_dim}, {model.dtype.name}), "
        f"{human_bytes(os.path.getsize(path))} on disk"
    )
    say(format_table(rows, "rllllrrr"))
    say(
        "kernel = shape (n_in x n_out) as trained; stored = after compaction "
        "(neurons without effect removed); sparsity is over the trained kernel"
    )
    return 0
