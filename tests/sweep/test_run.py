"""The driver: pool and Dask agree, resume, failures, dead workers."""

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from sparsecore import sweep
from sparsecore.sweep import Grid, ResultStore, register_method
from sparsecore.sweep.methods import METHODS

# A tiny study: 1 + 2 * 2 cells of a few hundred ms each.
TINY = {"dataset": "regression", "methods": ["magnitude", "random"],
        "sparsities": [0.5, 0.9], "seeds": [0], "epochs": 2,
        "hidden": [16]}  # fmt: skip


def metrics(result):
    return {r["key"]: (r["metrics"], r["sparsity"]) for r in result.records}


@pytest.fixture(scope="module")
def pool_result(tmp_path_factory):
    return sweep.run(TINY, tmp_path_factory.mktemp("pool"), workers=2)


def test_every_cell_finishes_with_its_sparsity(pool_result):
    grid = Grid(**TINY)
    assert pool_result.ran == len(grid.cells()) == 5
    assert pool_result.failed == pool_result.skipped == 0
    for record in pool_result.records:
        s = record["settings"]
        assert record["status"] == "ok", record["error"]
        assert record["sparsity"] == pytest.approx(s["sparsity"], abs=0.002)
        assert np.isfinite(record["metrics"]["test_loss"])
        assert record["environment"]["cpu"] and record["wall_seconds"] > 0


def test_records_tables_and_summary_are_written(pool_result):
    out = pool_result.out_dir
    files = sorted(os.listdir(os.path.join(out, "cells")))
    assert files == sorted(c.name + ".json" for c in Grid(**TINY).cells())
    with open(os.path.join(out, "results.csv")) as f:
        lines = f.read().splitlines()
    assert lines[0].startswith("method,sparsity,seed,status") and len(lines) == 6
    summary = pool_result.summary()
    assert [(r["method"], r["sparsity"], r["n"]) for r in summary] == [
        ("dense", 0.0, 1), ("magnitude", 0.5, 1), ("magnitude", 0.9, 1),
        ("random", 0.5, 1), ("random", 0.9, 1),
    ]  # fmt: skip
    with open(os.path.join(out, "summary.md")) as f:
        assert f.read().strip() == pool_result.table()


def test_same_seeds_same_results_in_process(pool_result, tmp_path):
    # Training is deterministic per seed: an in-process executor gives the same
    # numbers as the spawned pool (BLAS held to one thread in both).
    with ThreadPoolExecutor(1) as ex:
        again = sweep.run(TINY, tmp_path, executor=ex)
    assert metrics(again) == metrics(pool_result)


def test_resume_skips_finished_cells_and_reruns_failed_ones(pool_result, tmp_path):
    out = tmp_path / "study"
    first = sweep.run({**TINY, "methods": ["magnitude"]}, out, workers=1)
    assert first.ran == 3
    # a failed record is run again; a record of a changed setting is not reused
    store = ResultStore(out)
    cell = Grid(**TINY).cells()[1]
    record = store.read(cell)
    store.write({**record, "status": "failed", "metrics": {}})
    seen = []
    second = sweep.run(TINY, out, workers=2, progress=seen.append)
    assert second.skipped == 2 and second.ran == 3  # 1 failed + 2 random cells
    assert seen[0].skipped == 2 and seen[0].last is None
    assert metrics(second) == metrics(pool_result)
    third = sweep.run({**TINY, "epochs": 3}, out, workers=2)
    assert third.skipped == 0 and third.ran == 5  # every setting is in the key


def test_corrupt_record_is_run_again(tmp_path):
    store = ResultStore(tmp_path)
    cell = Grid(**TINY).cells()[0]
    with open(store.path(cell), "w") as f:
        f.write('{"format": "sparsecore.SweepCell", "version": 1, "key": "x"')
    assert store.read(cell) is None
    with open(store.path(cell), "w") as f:
        json.dump({"format": "sparsecore.SweepCell", "version": 1, "key": cell.key,
                   "settings": {**cell.settings(), "epochs": 99}, "status": "ok",
                   "metrics": {}}, f)  # fmt: skip
    assert store.read(cell) is None  # settings differ from the cell's: not its record


@pytest.fixture
def failing_method():
    def boom(model, data, cell):
        raise RuntimeError(f"boom at sparsity {cell.sparsity}")

    register_method("boom", boom)
    yield "boom"
    METHODS.pop("boom")


def test_a_failing_cell_is_recorded_and_the_rest_completes(tmp_path, failing_method):
    grid = {**TINY, "methods": ["magnitude", failing_method]}
    with ThreadPoolExecutor(2) as ex:
        result = sweep.run(grid, tmp_path, executor=ex)
    failed = [r for r in result.records if r["status"] == "failed"]
    assert result.failed == len(failed) == 2
    assert {r["settings"]["method"] for r in failed} == {"boom"}
    assert failed[0]["error"]["type"] == "RuntimeError"
    assert "boom at sparsity" in failed[0]["error"]["message"]
    assert "Traceback" in failed[0]["error"]["traceback"]
    assert sum(r["status"] == "ok" for r in result.records) == 3
    with pytest.raises(ValueError, match="must not be a registered method"):
        register_method("boom", lambda *a: None)


def test_out_must_not_be_a_file(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        sweep.run(TINY, path)


distributed = pytest.importorskip("distributed")


def test_dask_local_cluster_gives_the_local_pool_results(pool_result, tmp_path):
    with sweep.dask_executor("local", workers=2) as ex:
        result = sweep.run(TINY, tmp_path, executor=ex)
    assert result.failed == 0 and metrics(result) == metrics(pool_result)


def test_killing_a_dask_worker_mid_sweep_still_completes_every_cell(tmp_path):
    grid = {**TINY, "epochs": 6, "seeds": [0, 1]}  # 10 cells of ~0.5 s
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:  # fmt: skip
        pids = list(client.run(os.getpid).values())
        killed = []

        def kill_one(p):
            if p.done >= 1 and not killed:  # mid-sweep: cells are running
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        result = sweep.run(
            grid, tmp_path, executor=client.get_executor(), progress=kill_one
        )
    assert killed
    assert result.failed == 0 and len(result.records) == 10
    assert all(r["status"] == "ok" for r in result.records)


def test_unreachable_scheduler_fails_fast():
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match="cannot reach the Dask scheduler"):
        with sweep.dask_executor("tcp://127.0.0.1:9", timeout=1):
            pass
    assert time.perf_counter() - start < 10
