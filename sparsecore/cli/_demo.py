"""``sparsecore demo``: the tutorial's dense-vs-pruned experiment.

The work is :func:`sparsecore.experiment.run_experiment`; this module maps the
command line onto an :class:`~sparsecore.experiment.ExperimentConfig` and
prints the result.
"""

from __future__ import annotations

import argparse
import os
import warnings
from typing import Any

from sparsecore.cli._common import (
    CLIError,
    check_output_path,
    parse_int_at_least,
    parse_sparsity,
    say,
)
from sparsecore.cli._progress import ProgressLine
from sparsecore.experiment.run import epoch_values
from sparsecore.prune import PruningScheduleWarning

__all__ = ["EXAMPLES", "HELP", "NAME", "add_arguments", "run"]

NAME = "demo"
HELP = (
    "Run the tutorial: train a network dense and pruned from the same "
    "initial weights, then compare loss, sparsity, size and speed "
    "(about 4 minutes on an idle 2-core machine; --quick: seconds)."
)
EXAMPLES = """\
examples:
  sparsecore demo --quick                      # small data, same code path, < 1 min
  sparsecore demo                              # the tutorial (200 epochs)
  sparsecore demo --epochs 700                 # long enough for the schedule to end
  sparsecore demo --final-sparsity 0.9 --scope global --plot demo.png --json demo.json
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``demo`` options to its sub-parser."""
    step = parse_int_at_least(0)
    positive = parse_int_at_least(1)
    p.add_argument(
        "--quick",
        action="store_true",
        help="small data and network, same code path (under a minute)",
    )
    p.add_argument("--epochs", type=positive, help="epochs (default 200; quick 30)")
    p.add_argument(
        "--initial-sparsity",
        type=parse_sparsity,
        help="PolynomialDecay initial_sparsity (default 0.0)",
    )
    p.add_argument(
        "--final-sparsity",
        type=parse_sparsity,
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


def run(args: argparse.Namespace) -> int:
    """Run ``sparsecore demo``; return the exit code."""
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
        if path is not None:  # an empty name is refused, not ignored
            check_output_path(path)
    if args.save_dir and not os.path.isdir(args.save_dir):
        raise CLIError(f"--save-dir {args.save_dir!r} is not an existing folder")
    if args.plot:
        from sparsecore import plots

        plots.require_matplotlib("--plot")
    schedule = config.schedule()
    total = config.epochs * config.steps_per_epoch
    runs = f"two runs of {config.epochs} epochs x {config.steps_per_epoch} steps"
    say(f"sparsecore demo: {runs} ({_duration(args.quick)})")
    note = _schedule_note(schedule, total, config.steps_per_epoch)
    if note:  # printed as "sparsecore: warning: ..." by the command
        warnings.warn(note, PruningScheduleWarning, stacklevel=1)
    lines: dict[str, ProgressLine] = {}

    def progress(label: str, epoch: int, epochs: int, logs: dict[str, Any]) -> None:
        if epoch == 0:  # the run starts: a new line, and its clock
            lines[label] = ProgressLine(f"[{label}] epoch", epochs, plain_every=15.0)
            return
        line = lines[label]
        line.update(epoch, epoch_values(logs))
        if epoch == epochs:
            line.close()

    with warnings.catch_warnings():
        # The warning above says it once, as the tutorial's finding it is.
        warnings.simplefilter("ignore", PruningScheduleWarning)
        result = experiment.run_experiment(
            config,
            log=None if args.quiet else say,
            progress=None if args.quiet else progress,
            save_dir=args.save_dir,
        )
    say()
    say(result.table())
    if args.json:
        result.save_json(args.json)
        say(f"wrote {args.json}")
    if args.plot:
        from sparsecore import plots

        plots.plot_experiment(result, args.plot)
        say(f"wrote {args.plot}")
    return 0


def _duration(quick: bool) -> str:
    if quick:
        return "seconds"
    return (
        "about 4 minutes on an idle 2-core machine, longer when other work shares "
        "the cores; the ETA below is measured"
    )


def _schedule_note(schedule: Any, total: int, per_epoch: int) -> str:
    """The tutorial's own finding, when the run is too short for its schedule."""
    final = schedule.last_pruning_step()
    if final is None or total >= final:
        return ""
    last = schedule.last_pruning_step(total)
    reached = 0.0 if last is None or last < 1 else float(schedule.sparsity_at(last))
    target = float(schedule.sparsity_at(final))
    need = -(-final // per_epoch)
    return (
        f"as in the tutorial, the run ends at step {total}, before the "
        f"schedule's last pruning step {final}, so the kernels reach sparsity "
        f"{reached:.3f}, not {target:.3g}; --epochs {need} lets it finish"
    )
