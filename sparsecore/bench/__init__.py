"""Inference benchmark: sparse vs dense forward passes, measured side by side.

The sweep builds the tutorial network (1000 -> 1024 -> 1024 -> 1, ReLU),
magnitude-prunes every kernel to each sparsity (exactly ``k`` kept, with
sparsecore's own masks), optionally prunes whole hidden neurons (structured),
and times several ways of running the same forward pass on the same input, in
the same process, interleaved:

``numpy_dense``    ``x @ W + b``, ReLU in place: the baseline every speedup is over.
``scipy_naive``    ``x @ scipy.sparse.csr_matrix(W) + b``: what a user would write.
``sc_auto``        ``SparseModel.from_layers(format="auto", batch_size=batch)``: the
                   planner's estimate, every backend importable.
``sc_load``        Load-time auto: a file saved with scipy's ``format="auto"`` for
                   batch 16, read with ``SparseModel.load(path, batch_size=batch)``,
                   which chooses the formats again.
``sc_measure``     The same file read with ``plan="measure"``: every candidate timed
                   on each layer, in this run (a fresh plan cache).
``sc_csr``         Every layer CSR, the backend the planner estimates fastest.
``sc_scipy``       Every layer CSR with the scipy backend.
``sc_numba``       Every layer CSR with the numba backend (the ``fast`` extra).
``sc_scipy_auto``  ``format="auto"`` with the scipy backend only: what ``sc_auto`` is
                   without the ``fast`` extra.
``sc_numpy``       Every layer CSR with the pure NumPy backend (sorted, sliced
                   ELLPACK kernels): the NumPy-only runtime.
``sc_numpy_auto``  ``format="auto"`` with the NumPy backend only.
``sc_numpy_load``  Load-time auto on a NumPy-only runtime: the file of ``sc_load``
                   read with ``backend="numpy"``.
``sc_dense``       Compacted dense layers (transposed GEMV/GEMM).
``torch_dense``    ``torch.nn.functional.linear`` (when torch is importable).
``torch_csr``      ``torch.sparse.mm`` on a CSR tensor (when torch is importable;
                   skipped where nnz * batch > 6e7: it would take seconds per call).

The NumPy-only methods run here with scipy importable: ``backend="numpy"``
uses no scipy and no numba kernel, and its plan considers only dense and the
NumPy kernel, exactly as on a machine without them.

Every method is warmed up, then timed in rounds: each round times every
method once (in a shuffled order, torch last), each sample running the
method enough times to last ~``min_time`` seconds; the median over rounds is
reported. The CLI (``sparsecore bench``) and ``benchmarks/inference.py`` call
:func:`run_inference_sweep`, :func:`format_table` and :func:`write_csv`.

One module per concept, re-exported here:

- :mod:`sparsecore.bench.networks` -- the pruned networks, their input, sizes;
- :mod:`sparsecore.bench.methods` -- the timed forward passes;
- :mod:`sparsecore.bench.timing` -- the interleaved timer (also the
  experiment's), the read-bandwidth floor;
- :mod:`sparsecore.bench.inference` -- the sweep;
- :mod:`sparsecore.bench.calibrate` -- the calibration of ``format="auto"``;
- :mod:`sparsecore.bench.report` -- the table, the CSV and markdown files,
  the notes.

:func:`environment` is :func:`sparsecore._environment.environment`, the one
environment record every result carries.
"""

from __future__ import annotations

from sparsecore._environment import environment
from sparsecore.bench.calibrate import break_even_densities, calibrate_auto
from sparsecore.bench.inference import run_inference_sweep
from sparsecore.bench.methods import METHODS
from sparsecore.bench.networks import (
    DEFAULT_BATCHES,
    DEFAULT_SPARSITIES,
    STRUCTURED_SPARSITY,
    TUTORIAL_WIDTHS,
    file_sizes,
    make_input,
    pruned_tutorial_layers,
)
from sparsecore.bench.report import (
    explain,
    format_table,
    read_csv,
    update_readme,
    write_csv,
    write_markdown,
)

__all__ = [
    "DEFAULT_BATCHES",
    "DEFAULT_SPARSITIES",
    "METHODS",
    "STRUCTURED_SPARSITY",
    "TUTORIAL_WIDTHS",
    "break_even_densities",
    "calibrate_auto",
    "environment",
    "explain",
    "file_sizes",
    "format_table",
    "make_input",
    "pruned_tutorial_layers",
    "read_csv",
    "run_inference_sweep",
    "update_readme",
    "write_csv",
    "write_markdown",
]
