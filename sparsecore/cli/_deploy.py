"""``sparsecore deploy``: exported Linear/Dense weights -> a saved SparseModel.

The weights (an ``.npz`` or ``.safetensors`` of a PyTorch ``state_dict`` or
Keras weights) are read through the defensive readers, the layers found by
:func:`sparsecore.cli._layers.infer_layers` (order from the names, PyTorch's
``(out, in)`` weights transposed), ReLU put between them and a linear output
unless ``--activations`` says otherwise; the command prints what it inferred
before it builds the :class:`~sparsecore.runtime.SparseModel` (compacted,
formats chosen per layer) and saves it atomically.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from sparsecore._text import format_table, human_bytes
from sparsecore.cli._common import (
    CLIError,
    check_input_file,
    check_output_path,
    is_checkpoint,
    is_sparse_model,
    parse_int_at_least,
    read_archive,
    say,
)
from sparsecore.cli._layers import LAYOUTS, LayerError, infer_layers
from sparsecore.runtime.activations import ACTIVATION_NAMES
from sparsecore.runtime.npz import printable

__all__ = ["EXAMPLES", "HELP", "NAME", "add_arguments", "parse_activations", "run"]

NAME = "deploy"
HELP = (
    "Build a SparseModel from an .npz or .safetensors of Linear/Dense weights "
    "(PyTorch state_dict, Keras) and save it."
)
EXAMPLES = """\
examples:
  sparsecore deploy pruned.safetensors -o model.npz
  sparsecore deploy weights.npz -o model.npz --layout keras
  sparsecore deploy w.npz -o model.npz --activations relu,tanh,softmax
  sparsecore deploy w.npz -o model.npz --format csr --batch-size 64

The layers are the 2-D arrays named '<layer>.weight' (PyTorch, (out, in):
transposed) or '<layer>/kernel' (Keras, (in, out)), each with the '<layer>.bias'
beside it if there is one, in the names' natural order (0, 2, 4 or fc1, fc2 or
dense, dense_1). Between layers: ReLU; after the last: linear (logits), unless
--activations gives one per layer (linear, relu, leaky_relu[:ALPHA], tanh,
sigmoid, softmax). Every array must belong to a layer.
"""


def parse_activations(text: str) -> list[str | tuple[str, float]]:
    """``relu,leaky_relu:0.1,linear`` -> ``["relu", ("leaky_relu", 0.1), "linear"]``."""
    out: list[str | tuple[str, float]] = []
    for item in [t for t in text.replace(" ", "").split(",") if t]:
        name, _, alpha = item.partition(":")
        if name not in ACTIVATION_NAMES or (alpha and name != "leaky_relu"):
            raise argparse.ArgumentTypeError(
                f"activations must be among {', '.join(ACTIVATION_NAMES)} "
                f"(leaky_relu:ALPHA for a slope); got {item!r}"
            )
        if alpha:
            try:
                out.append((name, float(alpha)))
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"leaky_relu:ALPHA needs a number; got {item!r}"
                ) from None
        else:
            out.append(name)
    if not out:
        raise argparse.ArgumentTypeError(f"activations must not be empty; got {text!r}")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``deploy`` arguments to its sub-parser."""
    p.add_argument("weights", metavar="WEIGHTS")
    p.add_argument(
        "-o", "--output", metavar="MODEL.npz", required=True, help="where to save"
    )
    p.add_argument(
        "--layout",
        choices=LAYOUTS,
        help="torch: weights are (out, in), transposed; keras: (in, out) "
        "(default: from the names, '.weight' or '/kernel')",
    )
    p.add_argument(
        "--activations",
        type=parse_activations,
        metavar="A,A,...",
        help="one per layer (default: relu between layers, linear at the end)",
    )
    p.add_argument(
        "--format",
        choices=["auto", "csr", "dense"],
        default="auto",
        help="storage of every layer (default auto: per layer, what runs fastest)",
    )
    p.add_argument(
        "--batch-size",
        type=parse_int_at_least(1),
        default=1,
        help="expected samples per predict call, for --format auto (default 1)",
    )
    p.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="of the model (default float32)",
    )
    p.add_argument("--compress", action="store_true", help="deflate the output")


def _activation_name(act: str | tuple[str, float]) -> str:
    return act if isinstance(act, str) else f"{act[0]}:{act[1]:g}"


def run(args: argparse.Namespace) -> int:
    """Run ``sparsecore deploy``; return the exit code."""
    from sparsecore.runtime import SparseModel

    check_input_file(args.weights)
    check_output_path(args.output)
    archive = read_archive(args.weights)
    if archive.format is not None:
        what = (
            "a saved SparseModel already"
            if is_sparse_model(archive.format)
            else f"a {archive.format[0]} file"
        )
        raise CLIError(
            f"{args.weights}: is {what}, not exported weights"
            + (
                "; build it with SparseModel.from_model(sparsecore.load_model(path))"
                if is_checkpoint(archive.format)
                else ""
            )
        )
    arrays = archive.arrays
    try:
        layers, others = infer_layers(
            {n: a.shape for n, a in arrays.items()}, args.layout
        )
    except LayerError as e:
        raise CLIError(f"{args.weights}: {e}") from None
    if others:
        shown = ", ".join(repr(printable(n)) for n in others[:3])
        more = f" and {len(others) - 3} more" if len(others) > 3 else ""
        raise CLIError(
            f"{args.weights}: {shown}{more} belong to no Linear/Dense layer "
            "(deploy builds fully connected networks only; remove them first)"
        )
    for src in layers:
        for name in (src.weight, src.bias):
            if name is not None and arrays[name].dtype.kind != "f":
                raise CLIError(
                    f"{args.weights}: {printable(name)!r} has dtype "
                    f"{arrays[name].dtype}; weights must be floating point"
                )
    acts: list[str | tuple[str, float]]
    if args.activations is None:
        acts = [*(["relu"] * (len(layers) - 1)), "linear"]
    else:
        acts = args.activations
        if len(acts) != len(layers):
            raise CLIError(
                f"--activations gives {len(acts)} activations for "
                f"{len(layers)} layers ({', '.join(s.prefix or '-' for s in layers)})"
            )
    rows = [["layer", "weight", "bias", "stored", "kernel (in x out)", "activation"]]
    triples = []
    for src, act in zip(layers, acts, strict=True):
        w = arrays[src.weight]
        kernel = w.T if src.layout == "torch" else w
        bias = arrays[src.bias] if src.bias is not None else None
        triples.append((kernel, bias, act))
        n_in, n_out = src.kernel_shape
        rows.append(
            [
                printable(src.prefix) or "-",
                printable(src.weight),
                printable(src.bias) if src.bias is not None else "(none: zeros)",
                "x".join(map(str, src.stored))
                + (" (out, in)" if src.layout == "torch" else ""),
                f"{n_in}x{n_out}",
                _activation_name(act),
            ]
        )
    layout = "PyTorch (weights transposed)" if layers[0].layout == "torch" else "Keras"
    say(f"{args.weights}: {len(layers)} layers, {layout} layout")
    say(format_table(rows, "llllrl"))
    try:
        sm = SparseModel.from_layers(
            triples,
            format=args.format,
            dtype=args.dtype,
            batch_size=args.batch_size,
        )
    except ValueError as e:
        raise CLIError(f"{args.weights}: {e}") from None
    sm.save(args.output, compressed=args.compress)
    say()
    say(sm.summary())
    nnz = sum(int(np.count_nonzero(k)) for k, _, _ in triples)
    total = sum(k.size for k, _, _ in triples)
    say(
        f"wrote {args.output} ({human_bytes(os.path.getsize(args.output))}; kernel "
        f"sparsity {1 - nnz / total:.4f}); load it with "
        "sparsecore.SparseModel.load(path)"
    )
    return 0
