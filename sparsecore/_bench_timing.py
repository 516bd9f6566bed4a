"""Timing: interleaved, calibrated rounds of samples, and the read-bandwidth floor."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__: list[str] = []  # private helpers of the sweep and the calibration


def _calibrate(fn: Callable[[], Any], min_time: float) -> int:
    """Calls per sample so that one sample lasts about ``min_time`` seconds."""
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    n = 1
    while dt < min_time / 4 and n < 1 << 20:
        n *= 4
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
    per_call = dt / n
    return max(1, math.ceil(min_time / max(per_call, 1e-9)))


def _time_interleaved(
    fns: dict[str, Callable[[], Any]], repeats: int, min_time: float, seed: int
) -> dict[str, list[float]]:
    """Per method, ``repeats`` seconds-per-call samples, taken in shuffled rounds.

    Each round runs every method once (``torch*`` ones last, the others in an
    order shuffled with ``seed``); a sample is the mean over the calls that
    :func:`_calibrate` chose so it lasts about ``min_time`` seconds.
    """
    counts = {name: _calibrate(fn, min_time) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    order = [n for n in fns if not n.startswith("torch")]
    tail = [n for n in fns if n.startswith("torch")]
    rnd = random.Random(seed)
    for _ in range(repeats):
        rnd.shuffle(order)
        for name in order + tail:
            fn, n = fns[name], counts[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t0) / n)
    return samples


def _read_bandwidth() -> float:
    """Single-thread read bandwidth (bytes/s) over an 8 MB array (cache floor)."""
    a = np.ones(2_073_600, np.float32)  # the tutorial network's weight count
    np.max(a)
    best = math.inf
    for _ in range(20):
        t0 = time.perf_counter()
        np.max(a)
        best = min(best, time.perf_counter() - t0)
    return float(a.nbytes / best)
