"""Calibration of the ``format="auto"`` rule: one layer, dense against CSR.

``python benchmarks/inference.py --calibrate`` runs :func:`calibrate_auto` and
prints :func:`break_even_densities`, from which the table in
:mod:`sparsecore.runtime.auto` was set. The timing is
:func:`sparsecore.bench.timing.time_interleaved`, as in the sweep.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from sparsecore.bench.networks import DEFAULT_BATCHES, make_input
from sparsecore.bench.timing import time_interleaved
from sparsecore.runtime import SparseModel
from sparsecore.runtime.csr import available_backends

__all__ = ["CALIBRATION_DENSITIES", "break_even_densities", "calibrate_auto"]

CALIBRATION_DENSITIES = (0.01, 0.02, 0.035, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5)


def calibrate_auto(
    densities: Iterable[float] = CALIBRATION_DENSITIES,
    batches: Iterable[int] = DEFAULT_BATCHES,
    backends: Iterable[str] | None = None,
    repeats: int = 5,
    *,
    shape: tuple[int, int] = (1024, 1024),
    min_time: float = 0.01,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Time one layer dense vs CSR per backend, batch and density.

    Each measurement is a one-layer :class:`SparseModel` (``shape = (n_in,
    n_out)``, random unstructured mask of the given density, no activation,
    no compaction) with ``format="dense"`` and ``format="csr"``, interleaved.

    Returns
    -------
    list of dict
        Keys ``backend, batch, density, dense_s, csr_s, ratio`` with
        ``ratio = dense_s / csr_s`` (> 1: CSR faster).
    """
    backends = available_backends() if backends is None else list(backends)
    rng = np.random.default_rng(0)
    n_in, n_out = shape
    rows: list[dict[str, Any]] = []
    for batch in batches:
        x = make_input(batch, n_in)
        for density in densities:
            w = rng.standard_normal((n_in, n_out)).astype(np.float32)
            k = max(1, round(w.size * density))
            flat = np.zeros(w.size, bool)
            flat[rng.permutation(w.size)[:k]] = True
            w[~flat.reshape(w.shape)] = 0
            layer = [(w, np.zeros(n_out, np.float32), "linear")]
            fns: dict[str, Callable[[], Any]] = {}
            dense = SparseModel.from_layers(
                layer, format="dense", compact=False, threads=threads
            )
            fns["dense"] = functools.partial(dense.predict, x)
            for be in backends:
                sm = SparseModel.from_layers(
                    layer, format="csr", backend=be, compact=False, threads=threads
                )
                fns[be] = functools.partial(sm.predict, x)
            median = time_interleaved(fns, repeats, min_time=min_time, seed=0).median
            t_dense = median["dense"]
            for be in backends:
                t = median[be]
                rows.append(
                    {
                        "backend": be,
                        "batch": int(batch),
                        "density": float(density),
                        "dense_s": t_dense,
                        "csr_s": t,
                        "ratio": t_dense / t,
                    }
                )
            if progress is not None:
                progress(
                    f"batch={batch} density={density:g}: dense {t_dense * 1e6:.0f} us, "
                    + ", ".join(
                        f"{r['backend']} x{r['ratio']:.2f}"
                        for r in rows[-len(backends) :]
                    )
                )
    return rows


def break_even_densities(rows: Sequence[dict[str, Any]]) -> dict[str, dict[int, float]]:
    """Per backend and batch, the density where CSR and dense are equally fast.

    Interpolated in log(density) between the last density where CSR was
    faster and the first where it was not (0 if it never was; the largest
    density measured if it always was).
    """
    out: dict[str, dict[int, float]] = {}
    keys = sorted({(r["backend"], r["batch"]) for r in rows})
    for be, batch in keys:
        pts = sorted(
            (r["density"], r["ratio"])
            for r in rows
            if r["backend"] == be and r["batch"] == batch
        )
        value = 0.0
        for (d0, r0), (d1, r1) in zip(pts, pts[1:], strict=False):
            if r0 >= 1 > r1:
                f = math.log(r0) / (math.log(r0) - math.log(r1))
                value = math.exp(math.log(d0) + f * (math.log(d1) - math.log(d0)))
                break
        else:
            if pts and pts[-1][1] >= 1:
                value = pts[-1][0]
        out.setdefault(be, {})[batch] = value
    return out
