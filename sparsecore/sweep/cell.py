"""Running one cell: its data, its model, its method, its measurements.

:func:`run_cell` is the task a worker executes (a plain top-level function, so
any executor can ship it: a local process pool, a Dask worker). It loads the
dataset (once per process), builds and compiles the seeded model, trains it
with the cell's method, evaluates it on the test set and returns the cell's
record: settings, metrics, the sparsity reached, wall time, environment. A
cell that raises returns a record with ``status="failed"`` and the error, so
the rest of the sweep goes on.

BLAS is limited to one thread inside a cell (with threadpoolctl when it is
installed; the local pool also sets the thread variables before its workers
start), so that workers do not oversubscribe the cores and the results do not
depend on how many threads a machine has.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import platform
import time
import traceback
from collections.abc import Iterator
from typing import Any

import numpy as np

from sparsecore._environment import environment
from sparsecore.nn import Adam, Dense, ReLU, Sequential
from sparsecore.prune import sparsity_report
from sparsecore.sweep.grid import Cell
from sparsecore.sweep.methods import METHODS, Data

__all__ = [
    "RECORD_FORMAT",
    "RECORD_VERSION",
    "build_model",
    "empty_record",
    "error_info",
    "load_data",
    "run_cell",
]

RECORD_FORMAT = "sparsecore.SweepCell"
RECORD_VERSION = 1


@functools.lru_cache(maxsize=4)
def load_data(dataset: str) -> Data:
    """The dataset, as float32 x and int64 labels (float32 y for regression).

    Cached per process: every cell a worker runs shares one copy.
    """
    from sparsecore import data

    if dataset == "regression":
        x, y = data.make_regression(
            2000, 100, n_informative=50, noise=3, random_state=0
        )
        x = x / np.abs(x).max(axis=0)
        y = (y / np.abs(y).max()).reshape(-1, 1)
        x_tr, x_te, y_tr, y_te = data.train_test_split(
            x, y, test_size=0.2, random_state=42
        )
        return Data(
            x_tr.astype(np.float32),
            y_tr.astype(np.float32),
            x_te.astype(np.float32),
            y_te.astype(np.float32),
            0,
        )
    loader = {"mnist1d": data.load_mnist1d, "digits": data.load_digits}[dataset]
    (x_tr, y_tr), (x_te, y_te) = loader()
    n_classes = int(max(y_tr.max(), y_te.max())) + 1
    return Data(x_tr, y_tr, x_te, y_te, n_classes)


def build_model(cell: Cell, data: Data) -> Sequential:
    """The cell's ReLU MLP, seeded with ``cell.seed`` and compiled with Adam.

    Classification: logits and sparse categorical cross-entropy, with
    accuracy as metric; regression: one output and MSE.
    """
    layers: list[Any] = []
    for i, width in enumerate(cell.hidden):
        init = "he_normal" if i == 0 else "glorot_uniform"
        layers += [Dense(width, kernel_initializer=init), ReLU()]
    classes = data.n_classes
    layers.append(Dense(classes if classes else 1))
    model = Sequential(layers, input_dim=data.n_features, seed=cell.seed)
    optimizer = Adam(learning_rate=cell.learning_rate)
    if classes:
        from sparsecore.nn import SparseCategoricalCrossentropy

        loss = SparseCategoricalCrossentropy(from_logits=True)
        model.compile(loss=loss, optimizer=optimizer, metrics=["accuracy"])
    else:
        model.compile(loss="mse", optimizer=optimizer)
    return model


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the local pool set the variables before its workers started
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _measure(model: Sequential, data: Data) -> dict[str, float]:
    metrics: dict[str, float] = {}
    if data.n_classes:
        test = model.evaluate(data.x_test, data.y_test, return_dict=True)
        train = model.evaluate(data.x_train, data.y_train, return_dict=True)
        metrics["test_accuracy"] = float(test["accuracy"])
        metrics["test_loss"] = float(test["loss"])
        metrics["train_accuracy"] = float(train["accuracy"])
        metrics["train_loss"] = float(train["loss"])
    else:
        metrics["test_loss"] = float(model.evaluate(data.x_test, data.y_test))
        metrics["train_loss"] = float(model.evaluate(data.x_train, data.y_train))
    return metrics


def empty_record(cell: Cell) -> dict[str, Any]:
    """A record of `cell` that says ``failed`` until it is filled in."""
    return {
        "format": RECORD_FORMAT,
        "version": RECORD_VERSION,
        "key": cell.key,
        "name": cell.name,
        "settings": cell.settings(),
        "status": "failed",
        "metrics": {},
        "sparsity": None,
        "wall_seconds": None,
        "worker": None,
        "environment": {},
        "error": None,
    }


def error_info(error: BaseException, trace: str = "") -> dict[str, str]:
    """What a record says of the error that failed its cell."""
    return {"type": type(error).__name__, "message": str(error), "traceback": trace}


def run_cell(cell: Cell) -> dict[str, Any]:
    """Train and measure one cell; never raises for a failing method.

    Returns
    -------
    dict
        The record: ``format``, ``version``, ``key``, ``name``, ``settings``,
        ``status`` (``"ok"`` or ``"failed"``), ``metrics`` (``test_accuracy``
        and ``train_accuracy`` for classification, ``test_loss`` and
        ``train_loss`` always), ``sparsity`` (the fraction of kernel weights
        that are zero after training), ``wall_seconds``, ``worker``
        (host and pid), ``environment`` and ``error`` (None, or its type,
        message and traceback).
    """
    start = time.perf_counter()
    record = empty_record(cell)
    record["worker"] = f"{platform.node()}:{os.getpid()}"
    try:
        with _one_blas_thread():
            data = load_data(cell.dataset)
            model = build_model(cell, data)
            trained = METHODS[cell.method](model, data, cell)
            record["metrics"] = _measure(trained, data)
            report = sparsity_report(trained)
        kernels = [r for r in report.rows if r.name.endswith("/kernel")]
        size = sum(r.size for r in kernels)
        record["sparsity"] = 1.0 - sum(r.nonzeros for r in kernels) / size
        if not all(math.isfinite(v) for v in record["metrics"].values()):
            raise FloatingPointError(f"non-finite metrics {record['metrics']}")
        record["status"] = "ok"
    except Exception as e:  # noqa: BLE001 - the record reports it; the sweep goes on
        record["error"] = error_info(e, traceback.format_exc(limit=20))
    record["wall_seconds"] = time.perf_counter() - start
    record["environment"] = environment()
    return record
