"""``sparsecore prune``: prune the 2-D arrays of any ``.npz`` or ``.safetensors``.

No framework and no model: the arrays are read through the defensive readers
(never unpickled; Fortran-ordered arrays accepted), masked with the
functional criteria of :mod:`sparsecore.prune.criteria`, written atomically
(``.safetensors`` when the output's name ends so, else ``.npz``) and reported
per array, with the sparsity measured on the output. Members that are not
``.npy`` (a ``config.json``) are copied to an ``.npz`` output byte for byte,
a ``.safetensors`` input's metadata to a ``.safetensors`` output.
``--save-masks`` writes the masks (bool arrays, the same names) for a
masked fine-tune (:class:`sparsecore.prune.ArrayPruner` ``masks=``). When the
layers can be found in the names (:mod:`sparsecore.cli._layers`), a warning
says if pruning removed whole output units of the last layer. The output
never replaces the input unless ``--in-place`` says so.
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
    is_checkpoint,
    is_sparse_model,
    parse_int_at_least,
    parse_pair,
    parse_sparsity,
    read_archive,
    same_file,
    say,
    shape_str,
    sparsity_of,
    write_weights,
)
from sparsecore.cli._layers import LayerError, infer_layers
from sparsecore.runtime.npz import printable

__all__ = ["EXAMPLES", "HELP", "NAME", "add_arguments", "run"]

NAME = "prune"
HELP = (
    "Prune the 2-D arrays of any .npz or .safetensors of weights (Keras, "
    "PyTorch, JAX, ...) without a framework, and report per array."
)
EXAMPLES = """\
examples:
  sparsecore prune weights.npz -o pruned.npz --sparsity 0.75
  sparsecore prune model.safetensors -o pruned.safetensors --sparsity 0.9 \\
      --scope global --save-masks masks.npz
  sparsecore prune weights.npz -o pruned.npz --sparsity 0.5 --block 1x4
  sparsecore prune weights.npz -o pruned.npz --nm 2:4
  sparsecore prune weights.npz -o pruned.npz --sparsity 0.5 --criterion structured
  sparsecore prune torch.npz -o out.npz --sparsity 0.8 --include '*.weight' \\
      --exclude 'fc3.*'

Only 2-D floating-point arrays are pruned (1-D arrays such as biases are copied
unchanged; members that are not .npy, such as a config.json, byte for byte).
The output is .safetensors if its name ends in .safetensors, else .npz.
Axes follow Keras' Dense kernel (n_in, n_out); for PyTorch's Linear weight
(out, in) pass --axis 0 with --criterion structured (neurons) and --axis 1
with --nm (input dimension). The output never replaces IN unless --in-place
is given.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``prune`` arguments to its sub-parser."""
    p.add_argument("input", metavar="IN")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="where to write: .safetensors or .npz, by its name (required "
        "unless --in-place)",
    )
    p.add_argument(
        "--in-place",
        action="store_true",
        help="replace IN itself with the pruned file (atomically, same format)",
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
        "--exclude",
        action="append",
        metavar="PATTERN",
        help="never arrays whose name matches this glob (repeatable; wins over "
        "--include)",
    )
    p.add_argument(
        "--save-masks",
        metavar="MASKS",
        help="also write the masks (bool arrays, the same names; .npz or "
        ".safetensors) for a masked fine-tune",
    )
    p.add_argument(
        "--seed", type=parse_int_at_least(0), default=0, help="for --criterion random"
    )
    p.add_argument("--compress", action="store_true", help="deflate the output")


def _select(
    name: str, a: np.ndarray, include: list[str] | None, exclude: list[str] | None
) -> str | None:
    """Why array `name` is not pruned, or None if it is."""
    if include and not any(fnmatch.fnmatchcase(name, p) for p in include):
        return "not included"
    if exclude and any(fnmatch.fnmatchcase(name, p) for p in exclude):
        return "excluded"
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
    """Cross-option checks argparse cannot express; return the sparsity.

    For ``--nm`` the sparsity is measured on the output (a padded last group
    makes it differ from N/M); 0.0 is returned.
    """
    if args.nm is not None:
        n, m = int(args.nm[0]), int(args.nm[1])
        if not 0 <= n < m:
            raise CLIError(f"--nm N:M must have 0 <= N < M; got {n}:{m}")
        if args.sparsity is not None:
            raise CLIError("--nm sets the sparsity (N:M); do not also give --sparsity")
        if args.criterion != "magnitude" or args.block or args.scope != "layer":
            raise CLIError(
                "--nm cannot be combined with --criterion, --block or --scope global"
            )
        return 0.0
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
            raise CLIError("--in-place replaces IN itself; do not also give another -o")
        return str(args.input)
    if args.output is None:
        raise CLIError("prune needs -o OUT (or --in-place to replace IN)")
    if same_file(args.output, args.input):
        raise CLIError(
            f"-o {args.output!r} is the input file itself: the dense weights "
            "would be lost; give another -o, or --in-place to replace it"
        )
    return str(args.output)


def _last_layer_warning(
    arrays: dict[str, np.ndarray], out: dict[str, np.ndarray], pruned: set[str]
) -> str | None:
    """A warning if pruning zeroed whole output units of the network's last layer.

    The last layer is found as ``sparsecore deploy`` finds it; names that
    describe no chain of layers give no warning.
    """
    try:
        layers, _ = infer_layers({n: a.shape for n, a in arrays.items()})
    except LayerError:
        return None
    last = layers[-1]
    if last.weight not in pruned:
        return None
    axis = 1 - last.output_axis  # reduce over the inputs of each output unit
    before = np.any(arrays[last.weight] != 0, axis=axis)
    after = np.any(out[last.weight] != 0, axis=axis)
    gone = int(np.count_nonzero(before & ~after))
    if not gone:
        return None
    prefix = last.prefix or last.weight
    sep = "." if last.layout == "torch" else "/"
    return (
        f"pruning removed {gone} of {before.size} output units of the last layer "
        f"{printable(last.weight)!r} (whole {'rows' if axis == 1 else 'columns'} "
        f"are zero): those outputs (classes) can no longer be predicted; keep it "
        f"with --exclude '{printable(prefix)}{sep}*'"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``sparsecore prune``; return the exit code."""
    import warnings

    sparsity = _check_prune_args(args)
    check_input_file(args.input)
    output = _output_path(args)
    check_output_path(output)
    if args.save_masks is not None:
        check_output_path(args.save_masks)
        if same_file(args.save_masks, args.input) or args.save_masks == output:
            raise CLIError(
                f"--save-masks {args.save_masks!r} would overwrite the input or the "
                "output; give another name"
            )
    archive = read_archive(args.input)
    arrays, fmt = archive.arrays, archive.format
    if is_checkpoint(fmt):
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
    skipped = {n: _select(n, a, args.include, args.exclude) for n, a in arrays.items()}
    chosen = {n: a for n, a in arrays.items() if skipped[n] is None}
    if not chosen:
        raise CLIError(
            f"{args.input}: no array to prune (need 2-D floating-point "
            "arrays matching --include and not --exclude)"
        )
    for name, w in chosen.items():
        if not np.isfinite(w).all():
            raise CLIError(f"array {name!r}: weights must be finite; found NaN or inf")
    masks = _prune_masks(chosen, args, sparsity)
    out = dict(arrays)
    for name, mask in masks.items():
        w = chosen[name]
        out[name] = np.where(mask, w, np.zeros((), dtype=w.dtype))
    warning = _last_layer_warning(arrays, out, set(masks))
    if args.in_place:  # the same format as the input, whatever its name
        kind = archive.kind
    else:
        kind = "safetensors" if output.lower().endswith(".safetensors") else "npz"
    write_weights(
        output,
        out,
        files=archive.files,
        metadata=archive.metadata,
        dtypes=archive.dtypes,
        compressed=args.compress,
        kind=kind,
    )
    if args.save_masks is not None:
        write_weights(args.save_masks, {n: m.astype(bool) for n, m in masks.items()})

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
    measured = 1.0 - nnz_total / n_total if n_total else 0.0
    rows.append(
        [
            f"total pruned ({len(chosen)} arrays)",
            "",
            "",
            f"{measured:.4f}",
            f"{nnz_total:,}",
            "",
        ]
    )
    if args.nm:
        n, m = args.nm
        how = f"N:M {n}:{m}; measured sparsity {measured:.4f}"
        if abs(measured - n / m) > 1e-12:
            how += f", not {n}/{m}: a padded last group keeps more"
    else:
        how = f"{args.criterion}, scope {args.scope}, sparsity {sparsity:g}" + (
            f", block {args.block[0]}x{args.block[1]}" if args.block else ""
        )
    for name, data in archive.files.items():
        copied = f"copied ({len(data):,} bytes)" if kind == "npz" else "not written"
        rows.insert(-1, [printable(name), "", "", "", "", copied])
    say(f"pruned {args.input} -> {output} ({how})")
    say(format_table(rows, "llrrrl"))
    say(f"{output}: {human_bytes(os.path.getsize(output))} on disk")
    if args.save_masks is not None:
        say(
            f"{args.save_masks}: the {len(masks)} masks (True = kept), for "
            "sparsecore.prune.ArrayPruner(masks=...)"
        )
    if warning is not None:
        warnings.warn(warning, UserWarning, stacklevel=1)
    return 0
