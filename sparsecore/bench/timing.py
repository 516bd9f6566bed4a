"""Timing: the one interleaved timer, and the read-bandwidth floor.

:func:`time_interleaved` is what every sparsecore measurement uses: the
inference sweep (:func:`sparsecore.bench.run_inference_sweep`), the
``format="auto"`` calibration (:func:`sparsecore.bench.calibrate_auto`) and the
experiment's deploy stage (:func:`sparsecore.experiment.run_experiment`).
:func:`read_bandwidth` is the cache floor the sweep's notes compare the dense
time against.
"""

from __future__ import annotations

import dataclasses
import math
import random
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sparsecore._checks import validate_float, validate_int

__all__ = ["Timings", "read_bandwidth", "time_interleaved"]


@dataclasses.dataclass(frozen=True)
class Timings:
    """What :func:`time_interleaved` measured.

    Attributes
    ----------
    samples : dict of str to list of float
        Per function, one seconds-per-call sample per round, in round order.
    calls : dict of str to int
        Per function, the calls one sample averages over.
    """

    samples: dict[str, list[float]]
    calls: dict[str, int]

    @property
    def median(self) -> dict[str, float]:
        """Per function, the median over the rounds (seconds per call)."""
        return {name: float(statistics.median(s)) for name, s in self.samples.items()}

    @property
    def repeats(self) -> int:
        """The number of rounds."""
        return len(next(iter(self.samples.values()), []))


def _calls_per_sample(fn: Callable[[], Any], min_time: float) -> int:
    """Calls per sample so that one sample lasts about ``min_time`` seconds.

    Calls `fn` at least once, which also warms it up (allocations, caches,
    lazy imports); with ``min_time=0`` that one call is all, and the answer 1.
    """
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


def time_interleaved(
    fns: Mapping[str, Callable[[], Any]],
    repeats: int | None = None,
    *,
    min_time: float = 0.0,
    budget: float | None = None,
    min_repeats: int = 5,
    max_repeats: int = 1000,
    seed: int = 0,
) -> Timings:
    """Time several functions side by side, in interleaved rounds.

    Each round runs every function once (for one sample), so machine noise
    spreads evenly over them and their ratio is fair even on a busy machine:
    the names starting with ``torch`` last (torch's OpenMP threads keep
    spinning after a call and would slow whatever runs next), the others in
    an order shuffled with `seed`, afresh every round.

    Parameters
    ----------
    fns : mapping of str to callable()
        The functions, by name; each is called without arguments.
    repeats : int in [1, inf), optional
        Rounds. When None, `budget` sets them.
    min_time : float in [0, inf), default=0.0
        Seconds a sample should last: a sample is the mean over as many calls
        as that takes (measured once per function, before the rounds). 0: one
        call per sample.
    budget : float in [0, inf), optional
        Only when `repeats` is None: seconds for all the rounds together. One
        round is timed first (and not kept) and ``repeats = clip(budget //
        round, min_repeats, max_repeats)``.
    min_repeats, max_repeats : int in [1, inf), default=5 and 1000
        The bounds of the rounds `budget` chooses.
    seed : int in [0, inf), default=0
        The shuffling of the order in each round.

    Returns
    -------
    Timings
        ``samples`` (per function, a list of `repeats` seconds-per-call) and
        ``median`` (per function, their median).

    Notes
    -----
    Every function is called at least once before the rounds (a warm-up).
    """
    if repeats is not None:
        repeats = validate_int("repeats", repeats, 1)
    elif budget is None:
        raise TypeError("time_interleaved needs repeats or budget; got neither")
    else:
        budget = validate_float("budget", budget, 0.0)
        min_repeats = validate_int("min_repeats", min_repeats, 1)
        max_repeats = validate_int("max_repeats", max_repeats, min_repeats)
    min_time = validate_float("min_time", min_time, 0.0)
    seed = validate_int("seed", seed, 0)
    calls = {name: _calls_per_sample(fn, min_time) for name, fn in fns.items()}
    order = [name for name in fns if not name.startswith("torch")]
    tail = [name for name in fns if name.startswith("torch")]
    rnd = random.Random(seed)

    def one_round() -> dict[str, float]:
        rnd.shuffle(order)
        out = {}
        for name in order + tail:
            fn, n = fns[name], calls[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            out[name] = (time.perf_counter() - t0) / n
        return out

    if repeats is None:
        # One round, not kept (the first after the warm-up is often slow),
        # sizes the others.
        first = one_round()
        round_s = max(sum(t * calls[name] for name, t in first.items()), 1e-9)
        rounds = int((budget or 0.0) / round_s)
        repeats = max(min_repeats, min(max_repeats, rounds))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, t in one_round().items():
            samples[name].append(t)
    return Timings(samples, calls)


def read_bandwidth() -> float:
    """Single-thread read bandwidth (bytes/s) over an 8 MB array (cache floor)."""
    a = np.ones(2_073_600, np.float32)  # the tutorial network's weight count
    np.max(a)
    best = math.inf
    for _ in range(20):
        t0 = time.perf_counter()
        np.max(a)
        best = min(best, time.perf_counter() - t0)
    return float(a.nbytes / best)
