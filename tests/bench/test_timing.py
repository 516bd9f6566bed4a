"""sparsecore.bench.timing: the one interleaved timer, and the bandwidth floor."""

import statistics
import time

import pytest

from sparsecore.bench.timing import Timings, read_bandwidth, time_interleaved


def _recorder(log, name, seconds=0.0):
    def fn():
        log.append(name)
        if seconds:
            time.sleep(seconds)

    return fn


def test_rounds_interleave_every_function():
    log = []
    fns = {n: _recorder(log, n) for n in ("a", "b", "c")}
    t = time_interleaved(fns, 4, seed=3)
    assert isinstance(t, Timings) and t.repeats == 4
    assert t.calls == {"a": 1, "b": 1, "c": 1}  # min_time=0: one call a sample
    warm, rounds = log[:3], log[3:]
    assert warm == ["a", "b", "c"]  # every function warmed up first, once
    assert len(rounds) == 12
    for r in range(4):  # each round runs each function exactly once
        assert sorted(rounds[3 * r : 3 * r + 3]) == ["a", "b", "c"]
    assert {n: len(s) for n, s in t.samples.items()} == {"a": 4, "b": 4, "c": 4}


def test_order_is_shuffled_by_the_seed_and_torch_runs_last():
    def rounds(seed):
        log = []
        fns = {n: _recorder(log, n) for n in ("torch_x", "a", "b", "c", "d")}
        time_interleaved(fns, 6, seed=seed)
        body = log[5:]
        return [tuple(body[5 * r : 5 * r + 5]) for r in range(6)]

    first = rounds(0)
    assert all(r[-1] == "torch_x" for r in first)
    assert len(set(first)) > 1  # shuffled afresh every round
    assert rounds(0) == first  # ... reproducibly
    assert rounds(1) != first


def test_returns_per_function_medians():
    fns = {"fast": lambda: None, "slow": lambda: time.sleep(0.002)}
    t = time_interleaved(fns, 5)
    assert set(t.median) == {"fast", "slow"}
    for name, samples in t.samples.items():
        assert t.median[name] == statistics.median(samples)
    assert t.median["slow"] >= 0.002 > t.median["fast"]


def test_min_time_averages_a_sample_over_calls():
    log = []
    t = time_interleaved({"a": _recorder(log, "a")}, 3, min_time=0.001)
    assert t.calls["a"] > 1
    assert log.count("a") >= 3 * t.calls["a"]  # each sample made that many calls


def test_budget_sets_the_rounds():
    fns = {"a": lambda: time.sleep(0.001), "b": lambda: time.sleep(0.001)}
    # A round takes >= 2 ms: no budget -> the floor, 30 ms -> fewer than 15.
    assert time_interleaved(fns, budget=0.0).repeats == 5
    assert time_interleaved(fns, budget=0.0, min_repeats=2).repeats == 2
    assert 5 <= time_interleaved(fns, budget=0.03).repeats < 15
    many = time_interleaved({"n": lambda: None}, budget=1.0, max_repeats=7)
    assert many.repeats == 7


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"repeats": 0}, ValueError, r"repeats must be an int in \[1, inf\); got 0"),
        ({"repeats": 2.0}, TypeError, r"repeats must be an int in \[1, inf\)"),
        ({}, TypeError, "needs repeats or budget"),
        ({"budget": -1.0}, ValueError, r"budget must be a float in \[0, inf\)"),
        ({"repeats": 1, "min_time": -1}, ValueError, r"min_time must be a float"),
        ({"repeats": 1, "seed": -1}, ValueError, r"seed must be an int in \[0, inf\)"),
        (
            {"budget": 1.0, "min_repeats": 5, "max_repeats": 4},
            ValueError,
            r"max_repeats must be an int in \[5, inf\); got 4",
        ),
    ],
)
def test_arguments_are_checked_before_anything_runs(kwargs, error, match):
    log = []
    with pytest.raises(error, match=match):
        time_interleaved({"a": _recorder(log, "a")}, **kwargs)
    assert log == []


def test_read_bandwidth_is_positive():
    bw = read_bandwidth()
    assert bw > 1e8  # bytes/s: any machine reads 8 MB faster than 0.1 GB/s
