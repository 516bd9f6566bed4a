"""``sparsecore prune``: prune the 2-D arrays of any ``.npz`` of weights.

No framework and no model: the arrays are read through the defensive reader
(never unpickled; Fortran-ordered arrays accepted), masked with the
functional criteria of :mod:`sparsecore.prune.criteria`, written atomically
and reported per array. Members that are not ``.npy`` (a ``config.json``)
are copied to the output byte for byte. The output never replaces the input
unless ``--in-place`` says so.
"""

from __future__ import annotations

import argparse
import fnmatch
import os

import numpy as np

from sparsecore._text import format_table, human_bytes
from sparsecore.cli._common import (
    CLIError,
    check_input_file,
    check_output_path,
    is_sparse_model,
    parse_int_at_least,
    parse_pair,
    parse_sparsity,
    read_archive,
    same_file,
    say,
    shape_str,
    sparsity_of,
)
from sparsecore.runtime.npz import printable

__all__ = ["EXAMPLES", "HELP", "NAME", "add_arguments", "run"]

NAME = "prune"
HELP = (
    "Prune the 2-D arrays of any .npz of weights (Keras, PyTorch, JAX, ...) "
    "without a framework, and report per array."
)
EXAMPLES = """\
examples:
  sparsecore prune weights.npz -o pruned.npz --sparsity 0.75
  sparsecore prune weights.npz -o pruned.npz --sparsity 0.9 --scope global
  sparsecore prune weights.npz -o pruned.npz --sparsity 0.5 --block 1x4
  sparsecore prune weights.npz -o pruned.npz --nm 2:4
  sparsecore prune weights.npz -o pruned.npz --sparsity 0.5 --criterion structured
  sparsecore prune torch.npz -o out.npz --sparsity 0.8 --include '*.weight'

Only 2-D floating-point arrays are pruned (1-D arrays such as biases are copied
unchanged; members that are not .npy, such as a config.json, byte for byte).
Axes follow Keras' Dense kernel (n_in, n_out); for PyTorch's Linear weight
(out, in) pass --axis 0 with --criterion structured (neurons) and --axis 1
with --nm (input dimension). The output never replaces IN.npz unless
--in-place is given.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``prune`` arguments to its sub-parser."""
    p.add_argument("input", metavar="IN.npz")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT.npz",
        help="where to write (required unless --in-place)",
    )
    p.add_argument(
        "--in-place",
        action="store_true",
        help="replace IN.npz itself with the pruned file (atomically)",
    )
    p.add_argument(
        "--sparsity",
        type=parse_sparsity,
        help="fraction of weights set to zero, in [0, 1)",
    )
    p.add_argument(
        "--scope",
        choices=["layer", "global"],
        default="layer",
        help="each array to the sparsity, or one ranking over all (default layer)",
    )
    p.add_argument(
        "--criterion",
        choices=["magnitude", "structured", "random"],
        default="magnitude",
        help="default magnitude",
    )
    p.add_argument(
        "--block",
        type=parse_pair("x", "HxW, e.g. 1x4"),
        metavar="HxW",
        help="prune whole HxW blocks (magnitude)",
    )
    p.add_argument(
        "--nm",
        type=parse_pair(":", "N:M, e.g. 2:4"),
        metavar="N:M",
        help="N zeros in every M consecutive weights",
    )
    p.add_argument(
        "--axis",
        type=int,
        help="structured: channel axis (default 1 = Keras output "
        "neurons); N:M: group axis (default 0 = Keras input)",
    )
    p.add_argument(
        "--include",
        action="append",
        metavar="PATTERN",
        help="only arrays whose name matches this glob (repeatable)",
    )
    p.add_argument(
        "--seed", type=parse_int_at_least(0), default=0, help="for --criterion random"
    )
    p.add_argument("--compress", action="store_true", help="deflate the output")


def _select(name: str, a: np.ndarray, include: list[str] | None) -> str | None:
    """Why array `name` is not pruned, or None if it is."""
    if include and not any(fnmatch.fnmatchcase(name, p) for p in include):
        return "not included"
    if a.ndim != 2:
        return f"{a.ndim}-D, left alone"
    if a.dtype.kind != "f":
        return f"{a.dtype} is not floating point"
    return None


def _prune_masks(
    arrays: dict[str, np.ndarray], args: argparse.Namespace, sparsity: float
) -> dict[str, np.ndarray]:
    from sparsecore.prune import criteria

    block = args.block or (1, 1)
    if args.scope == "global":
        return criteria.global_magnitude_masks(arrays, sparsity, block_size=block)
    rng = np.random.default_rng(args.seed)
    masks = {}
    for name, w in arrays.items():
        try:
            if args.nm is not None:
                n, m = args.nm
                axis = 0 if args.axis is None else args.axis
                masks[name] = criteria.nm_mask(w, n, m, axis=axis)
            elif args.criterion == "structured":
                axis = 1 if args.axis is None else args.axis
                masks[name] = criteria.structured_mask(w, sparsity, axis=axis)
            elif args.criterion == "random":
                masks[name] = criteria.random_mask(w, sparsity, rng)
            else:
                masks[name] = criteria.magnitude_mask(w, sparsity, block_size=block)
        except (ValueError, IndexError) as exc:
            raise CLIError(f"array {name!r} of shape {w.shape}: {exc}") from None
    return masks


def _check_prune_args(args: argparse.Namespace) -> float:
    """Cross-option checks argparse cannot express; return the sparsity."""
    if args.nm is not None:
        n, m = int(args.nm[0]), int(args.nm[1])
        if not 0 <= n < m:
            raise CLIError(f"--nm N:M must have 0 <= N < M; got {n}:{m}")
        if args.sparsity is not None:
            raise CLIError("--nm sets the sparsity (N/M); do not also give --sparsity")
        if args.criterion != "magnitude" or args.block or args.scope != "layer":
            raise CLIError(
                "--nm cannot be combined with --criterion, --block or --scope global"
            )
        return n / m
    if args.sparsity is None:
        raise CLIError("prune needs --sparsity S (or --nm N:M)")
    if args.block is not None:
        if min(args.block) < 1:
            raise CLIError(f"--block HxW must have H, W >= 1; got {args.block}")
        if args.criterion != "magnitude":
            raise CLIError("--block needs --criterion magnitude")
    if args.scope == "global" and args.criterion != "magnitude":
        raise CLIError("--scope global needs --criterion magnitude")
    if args.axis is not None and args.criterion != "structured":
        raise CLIError("--axis applies to --criterion structured and --nm only")
    return float(args.sparsity)


def _output_path(args: argparse.Namespace) -> str:
    """The output file: refuse to overwrite the input unless --in-place."""
    if args.in_place:
        if args.output is not None and not same_file(args.output, args.input):
            raise CLIError(
                "--in-place replaces IN.npz itself; do not also give another -o"
            )
        return str(args.input)
    if args.output is None:
        raise CLIError("prune needs -o OUT.npz (or --in-place to replace IN.npz)")
    if same_file(args.output, args.input):
        raise CLIError(
            f"-o {args.output!r} is the input file itself: the dense weights "
            "would be lost; give another -o, or --in-place to replace it"
        )
    return str(args.output)


def run(args: argparse.Namespace) -> int:
    """Run ``sparsecore prune``; return the exit code."""
    sparsity = _check_prune_args(args)
    check_input_file(args.input)
    output = _output_path(args)
    check_output_path(output)
    archive = read_archive(args.input)
    arrays, fmt = archive.arrays, archive.format
    if fmt is not None and fmt[0] == "sparsecore.Checkpoint":
        raise CLIError(
            f"{args.input}: is a sparsecore checkpoint, whose weights, optimizer "
            "state and masks belong together; load it with sparsecore.load_model "
            "and prune with a Pruner"
        )
    if is_sparse_model(fmt):
        raise CLIError(
            f"{args.input}: is a saved SparseModel; prune the weights "
            "before converting them"
        )
    skipped = {n: _select(n, a, args.include) for n, a in arrays.items()}
    chosen = {n: a for n, a in arrays.items() if skipped[n] is None}
    if not chosen:
        raise CLIError(
            f"{args.input}: no array to prune (need 2-D floating-point "
            "arrays matching --include)"
        )
    for name, w in chosen.items():
        if not np.isfinite(w).all():
            raise CLIError(f"array {name!r}: weights must be finite; found NaN or inf")
    masks = _prune_masks(chosen, args, sparsity)
    out = dict(arrays)
    for name, mask in masks.items():
        w = chosen[name]
        out[name] = np.where(mask, w, np.zeros((), dtype=w.dtype))
    from sparsecore.runtime import atomic_savez

    atomic_savez(output, out, compressed=args.compress, files=archive.files)

    rows = [["array", "shape", "before", "after", "nonzeros", ""]]
    n_total = nnz_total = 0
    for name, a in arrays.items():
        b = out[name]
        if skipped[name] is None:
            nnz = int(np.count_nonzero(b))
            n_total += b.size
            nnz_total += nnz
            rows.append(
                [
                    printable(name),
                    shape_str(a),
                    f"{sparsity_of(a):.4f}",
                    f"{sparsity_of(b):.4f}",
                    f"{nnz:,}",
                    "pruned",
                ]
            )
        else:
            kept = f"kept ({skipped[name]})"
            rows.append([printable(name), shape_str(a), "", "", "", kept])
    rows.append(
        [
            f"total pruned ({len(chosen)} arrays)",
            "",
            "",
            f"{1.0 - nnz_total / n_total:.4f}",
            f"{nnz_total:,}",
            "",
        ]
    )
    how = (
        f"N:M {args.nm[0]}:{args.nm[1]}"
        if args.nm
        else (
            f"{args.criterion}, scope {args.scope}, sparsity {sparsity:g}"
            + (f", block {args.block[0]}x{args.block[1]}" if args.block else "")
        )
    )
    for name, data in archive.files.items():
        copied = f"copied ({len(data):,} bytes)"
        rows.insert(-1, [printable(name), "", "", "", "", copied])
    say(f"pruned {args.input} -> {output} ({how})")
    say(format_table(rows, "llrrrl"))
    say(f"{output}: {human_bytes(os.path.getsize(output))} on disk")
    return 0
