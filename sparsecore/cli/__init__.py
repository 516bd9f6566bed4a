"""The ``sparsecore`` command: demo, bench, prune, deploy, inspect and sweep.

Run ``sparsecore --help`` (or ``python -m sparsecore --help``) for the list,
``sparsecore <command> --help`` for each command's options and examples.

Every user error (a missing or malformed file, a bad option value) prints one
line ``sparsecore: error: ...`` on stderr and exits with a non-zero code, with
no traceback: 2 for a bad command line, 1 for anything else (an unexpected
internal error too: ``SPARSECORE_DEBUG=1`` shows its traceback). Warnings (for
example the pruner's "the schedule cannot complete") print as one line
``sparsecore: warning: ...``. Ctrl-C exits with 130 (``sparsecore: error:
interrupted``) and SIGTERM with 143 (``sparsecore: error: terminated``), both
after the same cleanup (no temporary file is left behind).

Only NumPy and the sparsecore core are imported at start-up; the commands
import what they need (matplotlib only when ``--plot`` is given).

Each command is one module, with its ``NAME``, ``HELP``, ``EXAMPLES``,
``add_arguments(parser)`` and ``run(args) -> exit code``:
:mod:`~sparsecore.cli._demo`, :mod:`~sparsecore.cli._bench`,
:mod:`~sparsecore.cli._prune`, :mod:`~sparsecore.cli._deploy`,
:mod:`~sparsecore.cli._inspect`, :mod:`~sparsecore.cli._sweep`; what they
share is in :mod:`~sparsecore.cli._common`, the progress line in
:mod:`~sparsecore.cli._progress`, the layers found in exported weights in
:mod:`~sparsecore.cli._layers`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from sparsecore._version import __version__
from sparsecore.cli import _bench, _demo, _deploy, _inspect, _prune, _sweep
from sparsecore.cli._common import PROG, CLIError, Parser, Terminated

__all__ = ["build_parser", "main"]

_COMMANDS = (_demo, _bench, _prune, _deploy, _inspect, _sweep)

_EXAMPLES = """\
examples:
  sparsecore demo --quick            # the tutorial in under a minute
  sparsecore demo                    # the tutorial: 200 epochs, dense vs pruned
  sparsecore bench --batches 1,1024  # where sparse inference beats dense
  sparsecore prune w.safetensors -o w90.safetensors --sparsity 0.9 --save-masks m.npz
  sparsecore deploy w90.safetensors -o model.npz   # a SparseModel
  sparsecore inspect model.npz
  sparsecore sweep --dataset mnist1d --methods magnitude,random --sparsities 0.5,0.9 \
      --seeds 0,1,2 --out study/
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``sparsecore`` argument parser (one sub-parser per command)."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = Parser(
        prog=PROG,
        description="sparsecore: train, prune and deploy sparse neural networks "
        "with NumPy.",
        epilog=_EXAMPLES,
        formatter_class=fmt,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in _COMMANDS:
        p: argparse.ArgumentParser = sub.add_parser(
            command.NAME,
            help=command.HELP,
            description=command.HELP,
            epilog=command.EXAMPLES,
            formatter_class=fmt,
        )
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    return parser


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr, flush=True)


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread, as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
        interrupted, 143 on SIGTERM.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    with _sigterm_raises(), warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _show_warning
        try:
            code: int = args.run(args)
        except CLIError as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"{PROG}: error: interrupted", file=sys.stderr)
            return 130
        except Terminated:
            print(f"{PROG}: error: terminated", file=sys.stderr)
            return 128 + signal.SIGTERM
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
        except MemoryError:
            if os.environ.get("SPARSECORE_DEBUG"):
                raise
            print(f"{PROG}: error: out of memory", file=sys.stderr)
            return 1
        except Exception as exc:  # a bug: still one line, as promised
            if os.environ.get("SPARSECORE_DEBUG"):
                raise
            print(
                f"{PROG}: error: internal error ({type(exc).__name__}: {exc}); "
                "please report it (SPARSECORE_DEBUG=1 shows the traceback)",
                file=sys.stderr,
            )
            return 1
    return code
