"""The experiment's deploy stage: the pruned model as a SparseModel, saved and timed.

:func:`deploy` writes the models in each format (sizes on disk), checks that
the SparseModel's outputs match the model's and times inference against the
runtime's dense path with :func:`time_interleaved`.
"""

from __future__ import annotations

import functools
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sparsecore._experiment_config import ExperimentConfig
from sparsecore.nn import Sequential

__all__ = ["Log", "deploy", "time_interleaved"]

#: Receives progress lines (``print`` shows them).
Log = Callable[[str], None]


def time_interleaved(
    fns: Mapping[str, Callable[[], Any]], budget: float, min_repeats: int = 5
) -> tuple[dict[str, float], int]:
    """Median seconds per call of each function, run round-robin.

    Interleaving spreads machine noise evenly over the variants, so their
    ratio is fair even on a busy machine.
    """
    for fn in fns.values():  # warm up (allocations, caches, lazy imports)
        fn()
    t0 = time.perf_counter()
    for fn in fns.values():
        fn()
    one_round = max(time.perf_counter() - t0, 1e-9)
    repeats = max(min_repeats, min(1000, int(budget / one_round)))
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}, repeats


def deploy(
    dense: Sequential,
    pruned: Sequential,
    x_test: np.ndarray,
    config: ExperimentConfig,
    save_dir: str | None,
    log: Log | None,
) -> tuple[dict[str, int], dict[str, dict[str, Any]], float]:
    """Save sizes, inference timings and the largest output difference."""
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
        medians, repeats = time_interleaved(
            {
                "dense": functools.partial(sm_dense.predict, xb),
                "sparse": functools.partial(sm.predict, xb),
            },
            config.timing_budget,
        )
        inference[str(batch)] = {
            "dense_s": medians["dense"],
            "sparse_s": medians["sparse"],
            "speedup": medians["dense"] / medians["sparse"],
            "repeats": repeats,
            "formats": [layer.format for layer in sm.layers],
        }
    return sizes, inference, diff
