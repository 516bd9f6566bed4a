"""The experiment's deploy stage: the pruned model as a SparseModel, saved and timed.

:func:`deploy` writes the models in each format (sizes on disk), checks that
the SparseModel's outputs match the model's and times inference against the
runtime's dense path with :func:`sparsecore.bench.timing.time_interleaved`
(the benchmark's timer: one way of timing in sparsecore).
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

from sparsecore.bench.timing import time_interleaved
from sparsecore.experiment.config import ExperimentConfig
from sparsecore.nn import Sequential

__all__ = ["Log", "deploy"]

#: Receives progress lines (``print`` shows them).
Log = Callable[[str], None]


def deploy(
    dense: Sequential,
    pruned: Sequential,
    x_test: np.ndarray,
    config: ExperimentConfig,
    save_dir: str | None,
    log: Log | None,
) -> tuple[dict[str, int], dict[str, dict[str, Any]], float]:
    """Save sizes, inference timings and the largest output difference.

    Parameters
    ----------
    dense, pruned : Sequential
        The two trained models (`pruned` with its pruning stripped).
    x_test : ndarray of shape (n_test, n_features)
        The inputs the outputs are compared on, and the timed batches come from.
    config : ExperimentConfig
        ``dtype`` and ``timing_budget`` (seconds per batch size).
    save_dir : str, optional
        Where the models are saved (a temporary folder if None).
    log : callable(str), optional

    Returns
    -------
    sizes : dict of str to int
        Bytes per saved file (see :attr:`ExperimentResult.file_bytes`).
    inference : dict of str to dict
        Per batch size (as str): ``dense_s``, ``sparse_s`` (median seconds per
        ``predict``), ``speedup``, ``repeats``, ``formats``.
    max_abs_diff : float
        Largest |SparseModel output - model output| on `x_test`.
    """
    from sparsecore.runtime import SparseModel

    # The dense baseline keeps every neuron (compact=False): it costs what the
    # dense run's model costs, zeros included.
    sm_dense = SparseModel.from_model(
        pruned, format="dense", dtype=config.dtype, compact=False
    )
    sm_csr = SparseModel.from_model(pruned, format="csr", dtype=config.dtype)
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_dir if save_dir is not None else tmp
        files = {
            "dense": (
                SparseModel.from_model(
                    dense, format="dense", dtype=config.dtype, compact=False
                ),
                False,
            ),
            "pruned_dense": (sm_dense, False),
            "pruned_dense_compressed": (sm_dense, True),
            "pruned_csr": (sm_csr, False),
            "pruned_csr_compressed": (sm_csr, True),
        }
        sizes = {}
        for name, (model, compressed) in files.items():
            path = os.path.join(folder, f"{name}.npz")
            model.save(path, compressed=compressed)
            sizes[name] = os.path.getsize(path)
    if save_dir is not None and log is not None:
        log(f"saved the models in {save_dir}")

    reference = pruned.predict(x_test)
    diff = 0.0
    inference: dict[str, dict[str, Any]] = {}
    n_test = x_test.shape[0]
    for batch in (1, 1024):
        # format="auto" picks each layer's format for the expected batch size.
        sm = SparseModel.from_model(
            pruned, format="auto", dtype=config.dtype, batch_size=batch
        )
        out = sm.predict(x_test)
        diff = max(diff, float(np.max(np.abs(out - reference))))
        xb = np.ascontiguousarray(x_test[np.arange(batch) % n_test])
        # At least 5 rounds, as many as the budget allows up to 1000; one call
        # per sample (min_time=0), seeded shuffles.
        timings = time_interleaved(
            {
                "dense": functools.partial(sm_dense.predict, xb),
                "sparse": functools.partial(sm.predict, xb),
            },
            budget=config.timing_budget,
            min_repeats=5,
            max_repeats=1000,
            seed=config.seed,
        )
        medians = timings.median
        inference[str(batch)] = {
            "dense_s": medians["dense"],
            "sparse_s": medians["sparse"],
            "speedup": medians["dense"] / medians["sparse"],
            "repeats": timings.repeats,
            "formats": [layer.format for layer in sm.layers],
        }
    return sizes, inference, diff
