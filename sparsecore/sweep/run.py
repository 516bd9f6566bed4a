"""Running a study: every unfinished cell of a grid on an executor, resumably.

:func:`run` expands the grid, skips the cells whose record is already in the
results folder, and submits the rest, one independent task per cell, to a
:class:`concurrent.futures.Executor`: by default a local process pool with one
worker per core (each worker's BLAS held to one thread), or any executor you
pass, such as a Dask cluster's (:func:`dask_executor`). Each record is written
as soon as its cell finishes, so an interrupted sweep loses only the cells
that were still running; running the same command again finishes the study.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from sparsecore._checks import validate_int, validate_type
from sparsecore._environment import usable_cpus
from sparsecore.sweep.cell import empty_record, error_info, run_cell
from sparsecore.sweep.grid import Cell, Grid
from sparsecore.sweep.store import ResultStore, summarize, summary_markdown

__all__ = ["Progress", "SweepResult", "dask_executor", "local_executor", "run"]

_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)
_INSTALL_DIST = 'pip install "sparsecore[dist]"'


@dataclasses.dataclass
class Progress:
    """Where a sweep stands; :func:`run` passes one to its ``progress`` callback.

    Attributes
    ----------
    total : int
        Cells in the grid.
    skipped : int
        Cells already finished in the results folder before this run.
    done : int
        Cells finished by this run (ok or failed).
    failed : int
        Cells of this run that failed.
    elapsed : float
        Seconds since the run started.
    last : dict or None
        The record that just finished (None for the first call).
    """

    total: int
    skipped: int
    done: int = 0
    failed: int = 0
    elapsed: float = 0.0
    last: dict[str, Any] | None = None

    @property
    def remaining(self) -> int:
        return self.total - self.skipped - self.done

    @property
    def eta(self) -> float | None:
        """Seconds left at this run's pace so far (None before the first cell)."""
        if self.done == 0:
            return None
        return self.elapsed / self.done * self.remaining


@dataclasses.dataclass
class SweepResult:
    """What :func:`run` finished: the records of every cell of the grid.

    Attributes
    ----------
    grid : Grid
    out_dir : str
    records : list of dict
        One per cell of the grid that has a record (finished before or now),
        in the grid's order.
    skipped : int
        Cells finished before this run (not run again).
    ran : int
        Cells this run executed.
    failed : int
        Cells whose record says ``failed``.
    """

    grid: Grid
    out_dir: str
    records: list[dict[str, Any]]
    skipped: int
    ran: int
    failed: int

    def summary(self) -> list[dict[str, Any]]:
        """Mean and standard deviation over seeds, per method and sparsity."""
        return summarize(self.records)

    def table(self) -> str:
        """The summary as a Markdown table."""
        return summary_markdown(self.summary())


@contextlib.contextmanager
def _thread_variables(n: int) -> Iterator[None]:
    """Set the BLAS thread variables while a pool starts its workers."""
    old = {v: os.environ.get(v) for v in _THREAD_VARIABLES}
    os.environ.update({v: str(n) for v in _THREAD_VARIABLES})
    try:
        yield
    finally:
        for var, value in old.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def local_executor(workers: int | None = None) -> ProcessPoolExecutor:
    """A process pool of `workers` (default: one per usable core).

    Workers start with the ``spawn`` method (no state copied from a parent
    that may hold threads), and with the BLAS thread variables at 1 while
    :func:`run` keeps them set, so each worker computes on one core.
    """
    n = usable_cpus() if workers is None else validate_int("workers", workers, 1)
    return ProcessPoolExecutor(
        max_workers=n, mp_context=multiprocessing.get_context("spawn")
    )


@contextlib.contextmanager
def dask_executor(
    scheduler: str, workers: int | None = None, *, timeout: float = 5.0
) -> Iterator[Executor]:
    """An executor on a Dask cluster (needs the ``dist`` extra).

    Parameters
    ----------
    scheduler : str
        ``"tcp://HOST:PORT"`` of a running scheduler, or ``"local"`` to start a
        :class:`distributed.LocalCluster` of `workers` single-threaded worker
        processes (default: one per core) for the duration of the block.
    workers : int, optional
        For ``"local"`` only.
    timeout : float, default=5.0
        Seconds to wait for the scheduler before giving up.

    Yields
    ------
    concurrent.futures.Executor
        ``distributed.Client.get_executor()``: tasks go to the cluster, and a
        task whose worker dies is rescheduled on another.

    Raises
    ------
    ImportError
        Without ``dask[distributed]``, naming the extra.
    ConnectionError
        If the scheduler cannot be reached within `timeout` seconds.
    """
    validate_type("scheduler", scheduler, str, "a str ('local' or 'tcp://HOST:PORT')")
    try:
        import distributed
    except ImportError:
        raise ImportError(
            f"a Dask scheduler needs dask[distributed], which is not installed; "
            f"install it with: {_INSTALL_DIST}"
        ) from None
    with contextlib.ExitStack() as stack:
        if scheduler == "local":
            n = (
                usable_cpus()
                if workers is None
                else validate_int("workers", workers, 1)
            )
            cluster = stack.enter_context(
                distributed.LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=40,  # logging.ERROR: no per-worker chatter
                )
            )
            address = cluster.scheduler_address
        else:
            address = scheduler
        try:
            client = stack.enter_context(
                distributed.Client(  # type: ignore[no-untyped-call]
                    address, timeout=timeout, set_as_default=False
                )
            )
        except (OSError, TimeoutError) as e:
            raise ConnectionError(
                f"cannot reach the Dask scheduler at {scheduler!r} within "
                f"{timeout:g} s ({type(e).__name__}: {e})"
            ) from None
        yield client.get_executor()


def run(
    grid: Grid | Mapping[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    executor: Executor | None = None,
    workers: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    retries: int = 1,
) -> SweepResult:
    """Run every unfinished cell of `grid`, writing each record to `out_dir`.

    Parameters
    ----------
    grid : Grid or mapping
        The study (a mapping is passed to :meth:`Grid.from_mapping`).
    out_dir : str or path-like
        The results folder (see :mod:`sparsecore.sweep.store`); created if
        missing. Cells whose record there says ``ok`` are skipped; failed ones
        run again.
    executor : concurrent.futures.Executor, optional
        Where cells run. Default: :func:`local_executor` with `workers`
        processes, shut down at the end. A given executor is left running.
    workers : int, optional
        Processes of the default pool (default: one per core).
    progress : callable, optional
        Called with a :class:`Progress` at the start and after every cell.
    retries : int, default=1
        With the default pool: how many times cells are resubmitted when a
        worker process dies (the pool breaks); a cell still unfinished after
        that is recorded as failed. Executors that reschedule by themselves
        (Dask) do not need it.

    Returns
    -------
    SweepResult

    Raises
    ------
    TypeError, ValueError
        For an invalid grid, or an `out_dir` that is a file.

    Examples
    --------
    >>> import sparsecore as sc  # doctest: +SKIP
    >>> grid = sc.sweep.Grid(dataset="mnist1d", methods=["magnitude", "random"],
    ...                      sparsities=[0.5, 0.9], seeds=[0, 1], epochs=20)
    >>> result = sc.sweep.run(grid, "study/")  # doctest: +SKIP
    >>> print(result.table())  # doctest: +SKIP
    """
    if not isinstance(grid, Grid):
        grid = Grid.from_mapping(grid)
    retries = validate_int("retries", retries, 0)
    store = ResultStore(out_dir)
    cells = grid.cells()
    records: dict[str, dict[str, Any]] = store.finished(cells)
    todo = [c for c in cells if c.key not in records]
    state = Progress(total=len(cells), skipped=len(records))
    start = time.perf_counter()

    def say(p: Progress) -> None:
        if progress is not None:
            progress(dataclasses.replace(p))  # a snapshot: the caller may keep it

    say(state)

    def finish(record: dict[str, Any]) -> None:
        store.write(record)
        records[record["key"]] = record
        state.done += 1
        state.failed += record["status"] != "ok"
        state.elapsed = time.perf_counter() - start
        state.last = record
        say(state)

    try:
        if executor is not None:
            _run_on(executor, todo, finish)
        else:
            with _thread_variables(1):
                _run_on_local_pool(todo, workers, retries, finish)
    finally:
        ordered = [records[c.key] for c in cells if c.key in records]
        store.write_tables(ordered)
    failed = sum(r["status"] != "ok" for r in ordered)
    return SweepResult(grid, store.out_dir, ordered, state.skipped, state.done, failed)


def _failed_record(cell: Cell, error: BaseException) -> dict[str, Any]:
    """The record of a cell that never returned (its worker died, its task was lost)."""
    record = empty_record(cell)
    record["error"] = error_info(error)
    return record


def _run_on(
    executor: Executor, cells: list[Cell], finish: Callable[[dict[str, Any]], None]
) -> None:
    futures: dict[Future[dict[str, Any]], Cell] = {
        executor.submit(run_cell, c): c for c in cells
    }
    try:
        for fut in as_completed(futures):
            try:
                record = fut.result()
            except Exception as e:  # noqa: BLE001 - e.g. Dask's KilledWorker
                record = _failed_record(futures[fut], e)
            finish(record)
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise


def _run_on_local_pool(
    cells: list[Cell],
    workers: int | None,
    retries: int,
    finish: Callable[[dict[str, Any]], None],
) -> None:
    pending = list(cells)
    attempt = 0
    while pending:
        others = set(multiprocessing.active_children())  # not ours to stop
        pool = local_executor(workers)
        futures = {pool.submit(run_cell, c): c for c in pending}
        broken: list[Cell] = []
        try:
            for fut in as_completed(futures):
                try:
                    finish(fut.result())
                except BrokenProcessPool:
                    broken.append(futures[fut])
        except BaseException:  # Ctrl-C, SIGTERM: stop the workers, keep the records
            pool.shutdown(wait=False, cancel_futures=True)
            for child in multiprocessing.active_children():
                if child not in others:  # the pool's workers only
                    child.terminate()
            raise
        pool.shutdown(wait=True)
        if broken and attempt >= retries:
            error = BrokenProcessPool("its worker process died while it ran")
            for cell in broken:
                finish(_failed_record(cell, error))
            broken = []
        pending = broken
        attempt += 1
