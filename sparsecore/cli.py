"""The ``sparsecore`` command: ``demo``, ``bench``, ``prune`` and ``inspect``.

Run ``sparsecore --help`` (or ``python -m sparsecore --help``) for the list,
``sparsecore <command> --help`` for each command's options and examples.

Every user error (a missing or malformed file, a bad option value) prints one
line ``sparsecore: error: ...`` on stderr and exits with a non-zero code, with
no traceback: 2 for a bad command line, 1 for anything else. Warnings (for
example the pruner's "the schedule cannot complete") print as one line
``sparsecore: warning: ...``.

Only NumPy and the sparsecore core are imported at start-up; the commands
import what they need (matplotlib only when ``--plot`` is given).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import warnings
import zipfile
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TextIO

import numpy as np

from sparsecore._version import __version__

__all__ = ["build_parser", "main"]

PROG = "sparsecore"


class CLIError(Exception):
    """A user error: printed as one line, exit code 1."""


# ----------------------------------------------------------------------- argparse
class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and point at ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _sparsity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(
            f"sparsity must be a float in [0, 1); got {text!r}"
        )
    return value


def _int_at_least(low: int) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be an int in [{low}, inf); got {text!r}"
            ) from None
        if value < low:
            raise argparse.ArgumentTypeError(
                f"must be an int in [{low}, inf); got {text!r}"
            )
        return value

    return convert


def _pair(sep: str, what: str) -> Callable[[str], tuple[int, int]]:
    def convert(text: str) -> tuple[int, int]:
        parts = text.lower().split(sep)
        try:
            a, b = (int(p) for p in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}") from None
        return a, b

    return convert


def _list_of(convert: Callable[[str], Any], what: str) -> Callable[[str], list[Any]]:
    def parse(text: str) -> list[Any]:
        items = [t for t in text.replace(" ", "").split(",") if t]
        if not items:
            raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}")
        try:
            return [convert(t) for t in items]
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(
                f"must be {what}; got {text!r} ({exc})"
            ) from None

    return parse


_EXAMPLES = {
    PROG: """\
examples:
  sparsecore demo --quick            # the tutorial in under a minute
  sparsecore demo                    # the tutorial: 200 epochs, dense vs pruned
  sparsecore bench --batches 1,1024  # where sparse inference beats dense
  sparsecore prune w.npz -o w90.npz --sparsity 0.9
  sparsecore inspect w90.npz
""",
    "demo": """\
examples:
  sparsecore demo --quick                      # small data, same code path, < 1 min
  sparsecore demo                              # the tutorial (200 epochs)
  sparsecore demo --epochs 700                 # long enough for the schedule to end
  sparsecore demo --final-sparsity 0.9 --scope global --plot demo.png --json demo.json
""",
    "bench": """\
examples:
  sparsecore bench
  sparsecore bench --sparsities 0.9,0.95,0.99 --batches 1,16 --csv bench.csv
  sparsecore bench --dtype float64 --plot speedup.png
""",
    "prune": """\
examples:
  sparsecore prune weights.npz -o pruned.npz --sparsity 0.75
  sparsecore prune weights.npz -o pruned.npz --sparsity 0.9 --scope global
  sparsecore prune weights.npz -o pruned.npz --sparsity 0.5 --block 1x4
  sparsecore prune weights.npz -o pruned.npz --nm 2:4
  sparsecore prune weights.npz -o pruned.npz --sparsity 0.5 --criterion structured
  sparsecore prune torch.npz -o out.npz --sparsity 0.8 --include '*.weight'

Only 2-D floating-point arrays are pruned (1-D arrays such as biases are copied
unchanged). Axes follow Keras' Dense kernel (n_in, n_out); for PyTorch's
Linear weight (out, in) pass --axis 0 with --criterion structured (neurons)
and --axis 1 with --nm (input dimension).
""",
    "inspect": """\
examples:
  sparsecore inspect weights.npz     # any .npz of arrays: per-array sparsity
  sparsecore inspect model.npz       # a saved SparseModel: per-layer summary
""",
}


def build_parser() -> argparse.ArgumentParser:
    """The ``sparsecore`` argument parser (one sub-parser per command)."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog=PROG,
        description="sparsecore: train, prune and deploy sparse neural networks "
        "with NumPy.",
        epilog=_EXAMPLES[PROG],
        formatter_class=fmt,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=_EXAMPLES[name],
            formatter_class=fmt,
        )
        return p

    sparsity = _sparsity
    step = _int_at_least(0)
    positive = _int_at_least(1)

    # --- demo
    p = command(
        "demo",
        "Run the tutorial: train a network dense and pruned from the same "
        "initial weights, then compare loss, sparsity, size and speed.",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="small data and network, same code path (under a minute)",
    )
    p.add_argument("--epochs", type=positive, help="epochs (default 200; quick 30)")
    p.add_argument(
        "--initial-sparsity",
        type=sparsity,
        help="PolynomialDecay initial_sparsity (default 0.0)",
    )
    p.add_argument(
        "--final-sparsity",
        type=sparsity,
        help="PolynomialDecay final_sparsity (default 0.75)",
    )
    p.add_argument("--begin-step", type=step, help="begin_step (default 1000)")
    p.add_argument("--end-step", type=step, help="end_step (default 5000)")
    p.add_argument("--frequency", type=positive, help="frequency (default 100)")
    p.add_argument("--scope", choices=["layer", "global"], help="default layer")
    p.add_argument(
        "--criterion",
        choices=["magnitude", "structured", "random"],
        help="default magnitude (structured: whole neurons)",
    )
    p.add_argument("--seed", type=step, help="initial weights and shuffling (0)")
    p.add_argument(
        "--plot", metavar="FILE.png", help="plot losses and sparsity (needs matplotlib)"
    )
    p.add_argument("--json", metavar="FILE", help="write the full result as JSON")
    p.add_argument(
        "--save-dir",
        metavar="DIR",
        help="keep the saved models (dense and CSR .npz) in DIR",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no per-epoch progress")
    p.set_defaults(run=_cmd_demo)

    # --- bench
    p = command(
        "bench",
        "Time sparse (SparseModel) against dense inference for the tutorial "
        "network, per sparsity and batch size.",
    )
    p.add_argument(
        "--sparsities",
        type=_list_of(_sparsity, "comma-separated sparsities in [0, 1)"),
        metavar="S,S,...",
        help="default 0,0.5,0.75,0.9,0.95,0.99",
    )
    p.add_argument(
        "--batches",
        type=_list_of(_int_at_least(1), "comma-separated batch sizes >= 1"),
        metavar="B,B,...",
        help="default 1,16,256,1024",
    )
    p.add_argument(
        "--dtype",
        choices=["float32", "float64", "both"],
        default="float32",
        help="default float32",
    )
    p.add_argument(
        "--methods",
        type=_list_of(str, "comma-separated method names"),
        metavar="M,M,...",
        help="subset of numpy_dense, scipy_naive, sc_csr, sc_auto, sc_scipy, "
        "sc_numpy, sc_dense, torch_dense, torch_csr (default: all that can run)",
    )
    p.add_argument(
        "--no-structured",
        action="store_true",
        help="skip the 75%% structured (neuron-pruned, compacted) network",
    )
    p.add_argument(
        "--repeats", type=_int_at_least(1), help="timing rounds per cell (default 7)"
    )
    p.add_argument(
        "--quick", action="store_true", help="3 rounds of short samples (a smoke test)"
    )
    p.add_argument("--csv", metavar="FILE", help="write every measurement as CSV")
    p.add_argument(
        "--plot", metavar="FILE.png", help="plot speedup vs sparsity (needs matplotlib)"
    )
    p.set_defaults(run=_cmd_bench)

    # --- prune
    p = command(
        "prune",
        "Prune the 2-D arrays of any .npz of weights (Keras, PyTorch, JAX, ...) "
        "without a framework, and report per array.",
    )
    p.add_argument("input", metavar="IN.npz")
    p.add_argument("-o", "--output", metavar="OUT.npz", required=True)
    p.add_argument(
        "--sparsity", type=sparsity, help="fraction of weights set to zero, in [0, 1)"
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
        type=_pair("x", "HxW, e.g. 1x4"),
        metavar="HxW",
        help="prune whole HxW blocks (magnitude)",
    )
    p.add_argument(
        "--nm",
        type=_pair(":", "N:M, e.g. 2:4"),
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
    p.add_argument("--seed", type=step, default=0, help="for --criterion random")
    p.add_argument("--compress", action="store_true", help="deflate the output")
    p.set_defaults(run=_cmd_prune)

    # --- inspect
    p = command(
        "inspect",
        "Print shape, sparsity and bytes per array of a weights .npz, or per "
        "layer of a saved SparseModel.",
    )
    p.add_argument("file", metavar="FILE")
    p.set_defaults(run=_cmd_inspect)
    return parser


# ----------------------------------------------------------------------- helpers
def _out() -> TextIO:
    return sys.stdout


def _say(text: str = "") -> None:
    print(text, file=_out(), flush=True)


def _format_rows(rows: Sequence[Sequence[str]], align: str) -> str:
    """Left/right align columns (``align`` has one 'l' or 'r' per column)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(align))]
    lines = []
    for r in rows:
        cells = [
            c.ljust(w) if a == "l" else c.rjust(w)
            for c, w, a in zip(r, widths, align, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    raise AssertionError("unreachable")  # pragma: no cover


def _check_input_file(path: str) -> None:
    if not os.path.exists(path):
        raise CLIError(f"no such file: {path!r}")
    if os.path.isdir(path):
        raise CLIError(f"{path!r} is a directory, not an .npz file")


def _check_output_path(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CLIError(f"cannot write {path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise CLIError(f"cannot write {path!r}: it is a directory")


def _load_npz(path: str) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` into memory, never unpickling.

    Any problem becomes a :class:`CLIError` naming the file.
    """
    _check_input_file(path)
    if not zipfile.is_zipfile(path):
        raise CLIError(f"{path}: not an .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: np.asarray(f[name]) for name in f.files}
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        reason = str(exc) or type(exc).__name__
        if "allow_pickle" in reason:
            reason = "it holds object arrays, which sparsecore never unpickles"
        raise CLIError(f"{path}: not a valid .npz file: {reason}") from None
    if not arrays:
        raise CLIError(f"{path}: the .npz file holds no arrays")
    return arrays


def _sparsity_of(a: np.ndarray) -> float:
    return 1.0 - np.count_nonzero(a) / a.size if a.size else 0.0


def _shape(a: np.ndarray) -> str:
    return "x".join(str(d) for d in a.shape) if a.ndim else "scalar"


# ----------------------------------------------------------------------- inspect
def _archive_format(arrays: dict[str, np.ndarray]) -> tuple[str, Any] | None:
    """``(format, version)`` from a sparsecore JSON ``header`` member, if any.

    Saved SparseModels say ``"sparsecore.SparseModel"``, checkpoints
    ``"sparsecore.Checkpoint"``; a plain weights file has no such header.
    """
    header = arrays.get("header")
    if header is None or header.shape != () or header.dtype.kind != "U":
        return None
    try:
        meta = json.loads(str(header[()]))
    except ValueError:
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("format"), str):
        return None
    return meta["format"], meta.get("version")


def _is_sparse_model(arrays: dict[str, np.ndarray]) -> bool:
    from sparsecore.runtime.format import FORMAT_NAME

    fmt = _archive_format(arrays)
    return fmt is not None and fmt[0] == FORMAT_NAME


def _cmd_inspect(args: argparse.Namespace) -> int:
    path: str = args.file
    arrays = _load_npz(path)
    if _is_sparse_model(arrays):
        return _inspect_sparse_model(path)
    rows = [["array", "shape", "dtype", "nonzeros", "sparsity", "bytes"]]
    total_n = total_nnz = total_bytes = 0
    for name, a in arrays.items():
        numeric = a.dtype.kind in "biufc"
        nnz = int(np.count_nonzero(a)) if numeric else a.size
        rows.append(
            [
                name,
                _shape(a),
                str(a.dtype),
                f"{nnz:,}" if numeric else "-",
                f"{_sparsity_of(a):.4f}" if numeric and a.size else "-",
                f"{a.nbytes:,}",
            ]
        )
        if numeric:
            total_n += a.size
            total_nnz += nnz
        total_bytes += a.nbytes
    total_sparsity = 1.0 - total_nnz / total_n if total_n else 0.0
    rows.append(
        [
            f"total ({len(arrays)} arrays)",
            "",
            "",
            f"{total_nnz:,}",
            f"{total_sparsity:.4f}",
            f"{total_bytes:,}",
        ]
    )
    fmt = _archive_format(arrays)
    kind = f" ({fmt[0]}, version {fmt[1]})" if fmt else ""
    size = _human_bytes(os.path.getsize(path))
    _say(f"{path}{kind}: {len(arrays)} arrays, {size} on disk")
    _say(_format_rows(rows, "lllrrr"))
    return 0


def _inspect_sparse_model(path: str) -> int:
    from sparsecore.runtime import SparseFormatError, SparseModel

    try:
        model = SparseModel.load(path)
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
    _say(
        f"{path}: saved SparseModel ({len(model.layers)} layers, input_dim "
        f"{model.input_dim}, {model.dtype.name}), "
        f"{_human_bytes(os.path.getsize(path))} on disk"
    )
    _say(_format_rows(rows, "rllllrrr"))
    _say(
        "kernel = shape (n_in x n_out) as trained; stored = after compaction "
        "(neurons without effect removed); sparsity is over the trained kernel"
    )
    return 0


# ----------------------------------------------------------------------- prune
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


def _cmd_prune(args: argparse.Namespace) -> int:
    sparsity = _check_prune_args(args)
    arrays = _load_npz(args.input)
    _check_output_path(args.output)
    fmt = _archive_format(arrays)
    if fmt is not None and fmt[0] == "sparsecore.Checkpoint":
        raise CLIError(
            f"{args.input}: is a sparsecore checkpoint, whose weights, optimizer "
            "state and masks belong together; load it with sparsecore.load_model "
            "and prune with a Pruner"
        )
    if _is_sparse_model(arrays):
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

    atomic_savez(args.output, out, compressed=args.compress)

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
                    name,
                    _shape(a),
                    f"{_sparsity_of(a):.4f}",
                    f"{_sparsity_of(b):.4f}",
                    f"{nnz:,}",
                    "pruned",
                ]
            )
        else:
            rows.append([name, _shape(a), "", "", "", f"kept ({skipped[name]})"])
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
    _say(f"pruned {args.input} -> {args.output} ({how})")
    _say(_format_rows(rows, "llrrrl"))
    _say(f"{args.output}: {_human_bytes(os.path.getsize(args.output))} on disk")
    return 0


# ----------------------------------------------------------------------- demo
def _cmd_demo(args: argparse.Namespace) -> int:
    from sparsecore import experiment

    config_class = experiment.ExperimentConfig
    base = config_class.quick() if args.quick else config_class()
    overrides = {
        "epochs": args.epochs,
        "initial_sparsity": args.initial_sparsity,
        "final_sparsity": args.final_sparsity,
        "begin_step": args.begin_step,
        "end_step": args.end_step,
        "frequency": args.frequency,
        "scope": args.scope,
        "criterion": args.criterion,
        "seed": args.seed,
    }
    try:
        config = base.replace(**{k: v for k, v in overrides.items() if v is not None})
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    for path in (args.plot, args.json):
        if path:
            _check_output_path(path)
    if args.save_dir and not os.path.isdir(args.save_dir):
        raise CLIError(f"--save-dir {args.save_dir!r} is not an existing folder")
    if args.plot:
        from sparsecore import plots

        plots.require_matplotlib("--plot")
    log = None if args.quiet else _say
    result = experiment.run_experiment(config, log=log, save_dir=args.save_dir)
    _say()
    _say(result.table())
    if args.json:
        result.save_json(args.json)
        _say(f"wrote {args.json}")
    if args.plot:
        from sparsecore import plots

        plots.plot_experiment(result, args.plot)
        _say(f"wrote {args.plot}")
    return 0


# ----------------------------------------------------------------------- bench
def _crossovers(rows: Sequence[dict[str, Any]], method: str) -> list[str]:
    """Per batch: the sparsity from which `method` beats dense, interpolated.

    The crossover is where the speedup (linearly interpolated between the
    measured sparsities) crosses 1 for the last time, so that `method` is
    faster at every measured sparsity above it.
    """
    lines = []
    cells = sorted(
        (r["dtype"], r["batch"], r["sparsity"], r["speedup"])
        for r in rows
        if r["method"] == method and not r["structured"]
    )
    for dtype, batch in sorted({(c[0], c[1]) for c in cells}):
        pts = [(c[2], c[3]) for c in cells if c[:2] == (dtype, batch)]
        label = f"  {dtype} batch {batch:>4}: "
        if pts[-1][1] < 1.0:
            lines.append(label + f"never (x{pts[-1][1]:.2f} at {pts[-1][0]:g})")
            continue
        i = len(pts) - 1
        while i > 0 and pts[i - 1][1] >= 1.0:
            i -= 1
        if i == 0:
            lines.append(label + f"at or below {pts[0][0]:g} (x{pts[0][1]:.2f})")
            continue
        (s0, v0), (s1, v1) = pts[i - 1], pts[i]
        cross = s0 + (1.0 - v0) * (s1 - s0) / (v1 - v0)
        lines.append(label + f"~{cross:.3f} (x{v0:.2f} at {s0:g}, x{v1:.2f} at {s1:g})")
    return lines


def _cmd_bench(args: argparse.Namespace) -> int:
    for path in (args.plot, args.csv):
        if path:
            _check_output_path(path)
    if args.plot:
        from sparsecore import plots

        plots.require_matplotlib("--plot")
    from sparsecore import bench

    if args.methods:
        unknown = [m for m in args.methods if m not in bench.METHODS]
        if unknown:
            raise CLIError(
                f"--methods must be among {', '.join(bench.METHODS)}; got "
                f"{', '.join(unknown)}"
            )
    kwargs: dict[str, Any] = {
        "sparsities": args.sparsities or bench.DEFAULT_SPARSITIES,
        "batches": args.batches or bench.DEFAULT_BATCHES,
        "dtypes": ["float32", "float64"] if args.dtype == "both" else [args.dtype],
        "structured": not args.no_structured,
        "progress": _say,
    }
    if args.methods:
        kwargs["methods"] = args.methods
    if args.quick:
        kwargs.update(repeats=3, min_time=0.005)
    if args.repeats:
        kwargs["repeats"] = args.repeats
    _say("timing every method on every cell (interleaved, medians); one line per cell")
    rows = bench.run_inference_sweep(**kwargs)
    _say()
    _say(
        "speedup over numpy dense, same run (x1.00 = as fast as dense; 's' = "
        "75% structured, compacted):"
    )
    _say(bench.format_table(rows, markdown=False))
    for method in ("sc_csr", "sc_auto"):
        lines = _crossovers(rows, method)
        if lines:
            _say()
            _say(f"crossover sparsity ({method} faster than dense from):")
            _say("\n".join(lines))
    if args.csv:
        bench.write_csv(rows, args.csv)
        _say(f"wrote {args.csv}")
    if args.plot:
        from sparsecore import plots

        plots.plot_bench(rows, args.plot)
        _say(f"wrote {args.plot}")
    return 0


# ----------------------------------------------------------------------- main
def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sparsecore`` command; return the exit code.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 for a user error, 2 for a bad command line, 130 when
        interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _show_warning
        try:
            code: int = args.run(args)
        except CLIError as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            # The reader went away (`sparsecore inspect f | head`): stop quietly,
            # and keep Python from complaining when it flushes stdout at exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 1
        except (ImportError, OSError, ValueError, FloatingPointError) as exc:
            # ImportError: an optional dependency (matplotlib) is missing;
            # OSError: disk full, permissions...; ValueError: a library check
            # (e.g. SparseFormatError) with its own clear message.
            if os.environ.get("SPARSECORE_DEBUG"):
                raise
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 1
    return code
