"""Sweeps: a pruning study (methods x sparsities x seeds) as one resumable run.

:class:`Grid` names the study; :func:`run` runs every unfinished cell on all
local cores by default, or on any :class:`concurrent.futures.Executor`, such as
a Dask cluster's (:func:`dask_executor`); the results folder holds one JSON
record per cell and the combined tables (:mod:`~sparsecore.sweep.store`).
Modules: ``grid`` (the study and its cells), ``methods`` (the pruning methods
by name), ``cell`` (running one cell), ``store`` (the results folder), ``run``
(the driver and the executors). ``sparsecore sweep`` is the command line.
"""

from sparsecore.sweep.cell import run_cell
from sparsecore.sweep.grid import DATASETS, Cell, Grid, load_grid, read_grid_config
from sparsecore.sweep.methods import METHODS, register_method
from sparsecore.sweep.run import (
    Progress,
    SweepResult,
    dask_executor,
    local_executor,
    run,
)
from sparsecore.sweep.store import ResultStore, summarize

__all__ = [
    "DATASETS",
    "METHODS",
    "Cell",
    "Grid",
    "Progress",
    "ResultStore",
    "SweepResult",
    "dask_executor",
    "load_grid",
    "read_grid_config",
    "local_executor",
    "register_method",
    "run",
    "run_cell",
    "summarize",
]
