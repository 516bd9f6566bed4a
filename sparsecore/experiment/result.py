"""What the experiment measured: :class:`ExperimentResult`, as JSON and as a table.

:func:`sparsecore.experiment.run_experiment` fills one (a :class:`RunResult`
per training run); :meth:`ExperimentResult.table` is the comparison
``sparsecore demo`` prints, laid out by :func:`sparsecore._text.format_table`;
:meth:`ExperimentResult.save_json` writes atomically.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from sparsecore._text import format_seconds, format_table, human_bytes
from sparsecore.experiment.config import ExperimentConfig
from sparsecore.prune import SparsityReport, SparsityRow
from sparsecore.runtime.atomic import atomic_write

__all__ = ["ExperimentResult", "RunResult"]


@dataclasses.dataclass
class RunResult:
    """One training run.

    Attributes
    ----------
    loss, val_loss : list of float
        Per epoch.
    sparsity : list of float or None
        Per epoch, the pruned weights' sparsity (pruned run only).
    final_val_loss : float
    train_seconds : float
        Wall time of ``fit``.
    """

    loss: list[float]
    val_loss: list[float]
    sparsity: list[float] | None
    final_val_loss: float
    train_seconds: float


@dataclasses.dataclass
class ExperimentResult:
    """Everything :func:`run_experiment` measured (see :meth:`to_dict`).

    Attributes
    ----------
    config : ExperimentConfig
    dense, pruned : RunResult
    schedule : dict
        ``total_steps``, ``steps_per_epoch``, ``target_sparsity`` (the final
        sparsity), ``last_pruning_step`` (last step that pruned, or None),
        ``reached_sparsity`` (the schedule's value there), ``completed``.
    sparsity : dict
        ``{"dense": ..., "pruned": ...}``: the
        :func:`~sparsecore.prune.sparsity_report` of each model after
        training, as ``to_dict()``: per weight (``"weights"``), over the
        pruned weights -- the kernels -- (``"pruned"``) and over all
        parameters (``"total"``).
    nonzeros : dict
        Non-zero parameters (weights and biases) of the ``dense`` and the
        ``pruned`` model, and their ``total`` number.
    file_bytes : dict
        Saved sizes: ``dense`` (dense run as a dense ``.npz``),
        ``pruned_dense``, ``pruned_dense_compressed``, ``pruned_csr``,
        ``pruned_csr_compressed``.
    inference : dict
        Per batch size (as str): median seconds per ``predict`` of the pruned
        model through the runtime's dense path (``dense_s``) and as a
        ``SparseModel`` with ``format="auto"`` for that batch size
        (``sparse_s``), the ``speedup`` dense_s / sparse_s, ``repeats``, and
        the ``formats`` auto chose per layer.
    max_abs_diff : float
        Largest |SparseModel output - model output| on the test set.
    wall_seconds : float
    environment : dict
    """

    config: ExperimentConfig
    dense: RunResult
    pruned: RunResult
    schedule: dict[str, Any]
    sparsity: dict[str, Any]
    nonzeros: dict[str, int]
    file_bytes: dict[str, int]
    inference: dict[str, dict[str, Any]]
    max_abs_diff: float
    wall_seconds: float
    environment: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field (config included)."""
        d = dataclasses.asdict(self)
        d["config"] = self.config.to_dict()
        return _jsonable(d)  # type: ignore[no-any-return]

    def save_json(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_dict` as indented JSON (atomically)."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        with atomic_write(path) as f:
            f.write(text.encode())

    def table(self) -> str:
        """The final comparison, as printed by ``sparsecore demo``."""
        return _format_result(self)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# --------------------------------------------------------------------- table
def _format_result(r: ExperimentResult) -> str:
    c, s = r.config, r.schedule
    b = r.file_bytes
    rows: list[tuple[str, str, str, str]] = [
        ("", "dense", "pruned", ""),
        (
            "final val_loss",
            f"{r.dense.final_val_loss:.4g}",
            f"{r.pruned.final_val_loss:.4g}",
            f"x{r.pruned.final_val_loss / r.dense.final_val_loss:.3f}",
        ),
        (
            "final loss (train)",
            f"{r.dense.loss[-1]:.4g}",
            f"{r.pruned.loss[-1]:.4g}",
            "",
        ),
        (
            "kernel sparsity",
            f"{r.sparsity['dense']['pruned']['sparsity']:.4f}",
            f"{r.sparsity['pruned']['pruned']['sparsity']:.4f}",
            f"target {s['target_sparsity']:.4g}",
        ),
        (
            "nonzero parameters",
            f"{r.nonzeros['dense']:,}",
            f"{r.nonzeros['pruned']:,}",
            f"x{r.nonzeros['pruned'] / r.nonzeros['dense']:.3f}",
        ),
        (
            "train time",
            format_seconds(r.dense.train_seconds),
            format_seconds(r.pruned.train_seconds),
            f"x{r.pruned.train_seconds / r.dense.train_seconds:.2f}",
        ),
        (
            "file, dense .npz",
            human_bytes(b["dense"]),
            human_bytes(b["pruned_dense"]),
            f"x{b['pruned_dense'] / b['dense']:.3f}",
        ),
        (
            "file, dense .npz compressed",
            "",
            human_bytes(b["pruned_dense_compressed"]),
            f"x{b['pruned_dense_compressed'] / b['dense']:.3f}",
        ),
        (
            "file, CSR .npz",
            "",
            human_bytes(b["pruned_csr"]),
            f"x{b['pruned_csr'] / b['dense']:.3f}",
        ),
        (
            "file, CSR .npz compressed",
            "",
            human_bytes(b["pruned_csr_compressed"]),
            f"x{b['pruned_csr_compressed'] / b['dense']:.3f}",
        ),
    ]
    # The label and the remark columns read left to right; the numbers align.
    lines = [format_table(rows, "lrrl")]
    # Inference compares two ways of running the same (pruned) model, so it
    # gets its own table: the dense run's columns above do not apply.
    infer: list[tuple[str, str, str, str]] = [
        ("inference of the pruned model", "dense kernels", "SparseModel", "")
    ]
    for batch, t in r.inference.items():
        infer.append(
            (
                f"batch {batch}",
                format_seconds(t["dense_s"]),
                format_seconds(t["sparse_s"]),
                f"x{t['speedup']:.2f} faster ({','.join(t['formats'])})",
            )
        )
    lines += ["", format_table(infer, "lrrl")]

    report = SparsityReport(
        [
            SparsityRow(
                w["name"], tuple(w["shape"]), w["size"], w["nonzeros"], w["pruned"]
            )
            for w in r.sparsity["pruned"]["weights"]
        ]
    )
    layer_lines = ["", "pruned model (* = pruned by the schedule):", str(report)]
    if s["completed"]:
        note = (
            f"schedule: completed at step {s['last_pruning_step']} of "
            f"{s['total_steps']}"
        )
    else:
        final = s["final_pruning_step"]
        need = math.ceil(final / s["steps_per_epoch"])
        note = (
            f"schedule: NOT completed -- {s['total_steps']} steps "
            f"({c.epochs} epochs x {s['steps_per_epoch']}) end before step "
            f"{final}, so the sparsity stopped at {s['reached_sparsity']:.3f} "
            f"instead of {s['target_sparsity']:.3g} (it needs {need} epochs)"
        )
    footer = [
        "",
        note,
        "inference: 'dense kernels' runs the pruned model's weights as dense "
        "matrices (zeros included, every neuron kept);",
        "'SparseModel' is SparseModel.from_model(model, batch_size=B): compacted, "
        "each layer's format chosen by format='auto' (in brackets);",
        f"outputs agree to {r.max_abs_diff:.2g}. Wall time {r.wall_seconds:.1f} s.",
    ]
    return "\n".join(lines + layer_lines + footer)
