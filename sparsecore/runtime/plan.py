"""The planner: per layer, the fastest format, backend and threads on this machine.

A :class:`~sparsecore.runtime.SparseModel` runs each layer as one product
``Y = W @ H + b`` with ``W`` stored dense (BLAS) or as CSR (one of the
backends of :mod:`sparsecore.runtime.csr`, on one or more threads). Which is
fastest depends on the layer's shape and density, the batch size, the CPU,
the BLAS and which libraries are installed, so, in the spirit of FFTW's
planner, there are two ways to choose (``plan=``):

``"estimate"``
    From the calibrated table of :mod:`sparsecore.runtime.auto`: instant,
    no file is read or written. The CSR backend is the one whose table
    allows the densest CSR layer at that batch size (the fastest CSR kernel
    relative to dense), dense where the density is above its limit.
``"measure"``
    Every candidate (dense, and CSR with each backend allowed, serial and,
    for kernels that release the GIL, on ``threads`` threads) is timed on
    the layer itself, at the batch size, interleaved, in a few milliseconds
    per layer (a CSR candidate the cost model rates over 8x slower than dense
    is not timed); the fastest is kept (dense on ties within 2 %). The choice is
    stored in the plan cache, so that the next load of the same layer on the
    same machine is instant.

The plan cache is one JSON file per machine, ``plans-<digest>.json``, in the
folder :func:`cache_dir` names: ``$SPARSECORE_CACHE_DIR`` if set (set it to
the empty string to disable the cache), else ``$XDG_CACHE_HOME/sparsecore``,
else ``~/.cache/sparsecore``. The digest and the file's ``machine`` record
(:func:`machine`: CPU model and count, the versions of Python, NumPy, SciPy,
numba and sparsecore, the backends importable, the thread-count variables)
must both match this process, or the file is ignored; a file that is not
valid JSON of the expected layout, or holds one malformed entry, is ignored
as a whole and replaced on the next write. Writes go through the atomic
writer (:mod:`sparsecore.runtime.atomic`); a folder that cannot be written
only means plans are measured again. :func:`clear_plan_cache` deletes the
files.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._checks import validate_choice, validate_float, validate_int
from .atomic import atomic_write
from .auto import AUTO_MIN_SIZE, estimate_seconds
from .csr import (
    BACKENDS,
    MIN_SPLIT_WORK,
    CSRMatrix,
    available_backends,
    default_threads,
    get_kernel,
    parallel_rows,
    releases_gil,
    resolve_backend,
)
from .ell import COLUMNS, ROWS

__all__ = [
    "cpu_model",
    "library_version",
    "CACHE_ENV",
    "MEASURE_BUDGET",
    "PLANS",
    "PLAN_FORMATS",
    "PRUNE_FACTOR",
    "LayerPlan",
    "cache_dir",
    "cache_path",
    "clear_plan_cache",
    "layer_op",
    "machine",
    "plan_layers",
    "read_plan_cache",
]

PLANS = ("estimate", "measure")
#: What a plan may do with each layer's format: choose (``auto``), force one,
#: or keep the one the layer has (``saved``).
PLAN_FORMATS = ("auto", "csr", "dense", "saved")
CACHE_ENV = "SPARSECORE_CACHE_DIR"
#: Seconds of timing per layer in ``plan="measure"`` (at least 3 rounds).
MEASURE_BUDGET = 0.03
# The estimate splits from this much work (as the runtime always has).
ESTIMATE_SPLIT_WORK = 1_000_000
# plan="measure" does not time a CSR candidate the cost model rates this many
# times slower than dense (the model is off by up to ~3x between machines).
PRUNE_FACTOR = 8.0
_DENSE_MARGIN = 1.02
_CACHE_NAME = "sparsecore.plans"
_CACHE_VERSION = 1
# Bump when a kernel changes what it costs: cached plans are then foreign.
_PLAN_VERSION = "2"
_MAX_CACHE_BYTES = 4 << 20
_MAX_ENTRIES = 4096
_SOURCES = ("estimate", "measure", "cache", "fixed")

Weight = CSRMatrix | np.ndarray
#: ``op(H, Y, bias)`` computes ``Y = W @ H + bias`` in place (``bias`` of
#: shape ``(M,)`` for a 1-D ``H``, ``(M, 1)`` for a 2-D one).
Op = Callable[[np.ndarray, np.ndarray, np.ndarray], None]


@dataclass(frozen=True)
class LayerPlan:
    """How one layer runs.

    Attributes
    ----------
    format : {'csr', 'dense'}
    backend : {'numpy', 'scipy', 'numba', 'blas'}
        The CSR kernel; ``'blas'`` for a dense layer (NumPy's matmul).
    threads : int
        Threads a CSR layer's rows are split across (1: serial); 0 for a
        dense layer (BLAS uses its own).
    source : {'estimate', 'measure', 'cache', 'fixed'}
        How it was chosen: from the table, timed now, read from the plan
        cache, or given.
    times : dict of str to float
        For ``measure`` and ``cache``: seconds per product of every
        candidate timed, by :meth:`label`-style name.
    """

    format: str
    backend: str
    threads: int = 1
    source: str = "estimate"
    times: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_choice("format", self.format, ("csr", "dense"))
        validate_choice("backend", self.backend, (*BACKENDS, "blas"))
        validate_int("threads", self.threads, 0)
        validate_choice("source", self.source, _SOURCES)
        if (self.format == "dense") != (self.backend == "blas"):
            raise ValueError(
                "backend must be 'blas' exactly for a dense layer; got "
                f"format={self.format!r}, backend={self.backend!r}"
            )

    @property
    def label(self) -> str:
        """``'dense'``, ``'csr/numba'`` or ``'csr/scipy x2'``."""
        if self.format == "dense":
            return "dense"
        return f"csr/{self.backend}" + (f" x{self.threads}" if self.threads > 1 else "")


def _label(fmt: str, backend: str, threads: int) -> str:
    return LayerPlan(fmt, backend, threads, "fixed").label


# ------------------------------------------------------------------- ops


def layer_op(weight: Weight, backend: str, threads: int = 1) -> Op:
    """The product ``op(H, Y, bias)``: ``Y = W @ H + bias``, for one layer.

    Parameters
    ----------
    weight : CSRMatrix or ndarray of shape (M, N)
        The transposed kernel.
    backend : {'numpy', 'scipy', 'numba', 'blas'}
        For a CSRMatrix, the kernel; ignored for a dense array.
    threads : int, default=1
        Split a CSR product's rows across this many threads when the kernel
        releases the GIL and the product has at least ``MIN_SPLIT_WORK``
        (1e5) nonzero-times-column products.

    Returns
    -------
    callable(H, Y, bias)
        ``H`` of shape ``(N,)`` or ``(N, B)`` (C-contiguous), ``Y`` of shape
        ``(M,)`` or ``(M, B)``, written in place.
    """
    if not isinstance(weight, CSRMatrix):
        w = weight

        def dense(H: np.ndarray, Y: np.ndarray, bias: np.ndarray) -> None:
            np.matmul(w, H, out=Y)
            Y += bias

        return dense
    A = weight
    if backend == "numpy":

        def numpy_ell(H: np.ndarray, Y: np.ndarray, bias: np.ndarray) -> None:
            if H.ndim == 1:
                A.ell(COLUMNS).matvec(H, Y, bias)
            else:
                A.ell(ROWS).matmat(H, Y, bias)

        return numpy_ell
    kernel = get_kernel(backend)
    M = A.shape[0]
    split = threads > 1 and releases_gil(kernel)

    def csr(H: np.ndarray, Y: np.ndarray, bias: np.ndarray) -> None:
        np.copyto(Y, bias)
        work = A.nnz * (H.shape[1] if H.ndim == 2 else 1)
        if split and work >= MIN_SPLIT_WORK:
            parallel_rows(kernel, A, H, Y, threads)
        else:
            kernel(A, H, Y, 0, M)

    return csr


# -------------------------------------------------------------- planning


def _row_lengths(weight: Weight) -> np.ndarray:
    if isinstance(weight, CSRMatrix):
        return np.diff(weight.indptr)
    return np.asarray(np.count_nonzero(weight, axis=1))


def _allowed_backends(backend: str) -> list[str]:
    if backend == "auto":
        return available_backends()
    return [resolve_backend(backend)]


def _estimate(
    weight: Weight, batch: int, fmt: str, backends: Sequence[str], threads: int
) -> LayerPlan:
    # The candidates' estimated times (sparsecore.runtime.auto's cost
    # model), serial; dense on ties. A CSR kernel that releases the GIL
    # splits its rows from ESTIMATE_SPLIT_WORK on, as the runtime always has.
    shape = (int(weight.shape[0]), int(weight.shape[1]))
    nnz = int(_row_lengths(weight).sum())
    best, best_t = None, math.inf
    for f, be, _ in _candidates(weight, batch, fmt, backends, 1):
        t = estimate_seconds(f, be, shape, nnz, batch)
        if t < best_t:
            best, best_t = (f, be), t
    assert best is not None  # _candidates is never empty
    f, be = best
    if f == "dense":
        return LayerPlan("dense", "blas", 0, "estimate")
    split = releases_gil(get_kernel(be)) and nnz * batch >= ESTIMATE_SPLIT_WORK
    return LayerPlan("csr", be, threads if split else 1, "estimate")


def _candidates(
    weight: Weight, batch: int, fmt: str, backends: Sequence[str], threads: int
) -> list[tuple[str, str, int]]:
    M, N = weight.shape
    if fmt == "saved":
        fmt = "csr" if isinstance(weight, CSRMatrix) else "dense"
    if fmt == "auto" and M * N < AUTO_MIN_SIZE:
        fmt = "dense"  # both take ~1 us: not worth timing
    out: list[tuple[str, str, int]] = []
    if fmt in ("auto", "dense"):
        out.append(("dense", "blas", 0))
    if fmt in ("auto", "csr"):
        nnz = int(_row_lengths(weight).sum())
        for be in backends:
            out.append(("csr", be, 1))
            gil_free = releases_gil(get_kernel(be))
            if threads > 1 and gil_free and nnz * batch >= MIN_SPLIT_WORK:
                out.append(("csr", be, threads))
    return out


def _prune(
    weight: Weight, batch: int, cands: list[tuple[str, str, int]]
) -> list[tuple[str, str, int]]:
    # Candidates the cost model rates over PRUNE_FACTOR x slower than dense
    # are not timed (a nearly dense layer would spend seconds in its CSR
    # products at a large batch): FFTW's planner prunes its search likewise.
    if ("dense", "blas", 0) not in cands:
        return cands
    shape = (int(weight.shape[0]), int(weight.shape[1]))
    nnz = int(_row_lengths(weight).sum())
    limit = PRUNE_FACTOR * estimate_seconds("dense", "blas", shape, nnz, batch)
    return [
        c
        for c in cands
        if c[0] == "dense" or estimate_seconds(c[0], c[1], shape, nnz, batch) <= limit
    ]


def _time_ops(ops: Mapping[str, Callable[[], None]], budget: float) -> dict[str, float]:
    """Median seconds per call of each op, timed in interleaved rounds.

    Every op is called once (a warm-up: it builds layouts, compiles numba)
    and once more, timed; ops over 4x slower than the fastest stop there.
    The others are timed in 3-9 rounds of samples of >= 0.2 ms each, in an
    order shuffled every round, within about `budget` seconds.
    """
    first: dict[str, float] = {}
    for name, op in ops.items():
        op()
        t0 = time.perf_counter()
        op()
        first[name] = max(time.perf_counter() - t0, 1e-9)
    fastest = min(first.values())
    keep = [name for name in ops if first[name] <= 4 * fastest]
    calls = {name: max(1, math.ceil(2e-4 / first[name])) for name in keep}
    round_s = sum(calls[n] * first[n] for n in keep)
    rounds = max(3, min(9, int(budget / max(round_s, 1e-9))))
    samples: dict[str, list[float]] = {name: [] for name in keep}
    rnd = random.Random(0)
    order = list(keep)
    for _ in range(rounds):
        rnd.shuffle(order)
        for name in order:
            op, n = ops[name], calls[name]
            t0 = time.perf_counter()
            for _ in range(n):
                op()
            samples[name].append((time.perf_counter() - t0) / n)
    out = dict(first)
    out.update({name: float(np.median(s)) for name, s in samples.items()})
    return out


def _measure(
    weight: Weight,
    batch: int,
    candidates: Sequence[tuple[str, str, int]],
    budget: float,
) -> LayerPlan:
    M, N = weight.shape
    dtype = weight.dtype
    rng = np.random.default_rng(0)
    shape_in: tuple[int, ...] = (N,) if batch == 1 else (N, batch)
    H = rng.standard_normal(shape_in).astype(dtype)
    Y = np.empty((M,) if batch == 1 else (M, batch), dtype)
    bias = np.zeros((M,) if batch == 1 else (M, 1), dtype)
    as_csr = weight if isinstance(weight, CSRMatrix) else None
    as_dense = weight if not isinstance(weight, CSRMatrix) else None
    ops: dict[str, Callable[[], None]] = {}
    keys: dict[str, tuple[str, str, int]] = {}
    for fmt, be, th in candidates:
        if fmt == "dense":
            if as_dense is None:
                as_dense = as_csr.toarray() if as_csr is not None else None
            w: Weight = as_dense  # type: ignore[assignment]
        else:
            if as_csr is None:
                as_csr = CSRMatrix.from_dense(as_dense)  # type: ignore[arg-type]
            w = as_csr
        op = layer_op(w, be, th)
        name = _label(fmt, be, th)
        ops[name] = functools.partial(op, H, Y, bias)
        keys[name] = (fmt, be, th)
    times = _time_ops(ops, budget)
    best = min(times, key=times.__getitem__)
    if "dense" in times and times["dense"] <= _DENSE_MARGIN * times[best]:
        best = "dense"  # ties go to dense, which never needs the sparse kernels
    fmt, be, th = keys[best]
    return LayerPlan(fmt, be, th, "measure", times)


def plan_layers(
    weights: Sequence[Weight],
    batch_size: int,
    *,
    format: str = "auto",
    backend: str = "auto",
    threads: int | None = None,
    plan: str = "estimate",
    budget: float = MEASURE_BUDGET,
) -> list[LayerPlan]:
    """Choose format, backend and threads for each layer.

    Parameters
    ----------
    weights : sequence of CSRMatrix or ndarray of shape (n_out, n_in)
        The transposed kernels, as stored now.
    batch_size : int
        Samples per product the plan is for.
    format : {'auto', 'csr', 'dense', 'saved'}, default='auto'
        Choose each layer's format, force one, or keep each layer's own.
    backend : {'auto', 'numba', 'scipy', 'numpy'}, default='auto'
        The CSR backends allowed: every importable one, or only this one.
    threads : int, optional
        Threads a CSR product may split its rows across (default: the CPUs
        available, at most 8).
    plan : {'estimate', 'measure'}, default='estimate'
        From the table, or timed here (and cached; see the module notes).
    budget : float, default=MEASURE_BUDGET
        Seconds of timing per layer for ``plan='measure'``.

    Returns
    -------
    list of LayerPlan
        One per layer.

    Raises
    ------
    ValueError
        If an option is invalid.
    ImportError
        If `backend` names a backend that cannot be imported.
    """
    validate_choice("format", format, PLAN_FORMATS)
    validate_choice("plan", plan, PLANS)
    batch_size = validate_int("batch_size", batch_size, 1)
    threads = (
        default_threads() if threads is None else validate_int("threads", threads, 1)
    )
    budget = validate_float("budget", budget, 0.0)
    backends = _allowed_backends(backend)
    if plan == "estimate":
        return [_estimate(w, batch_size, format, backends, threads) for w in weights]
    record = machine()
    path = cache_path(record)
    cached = read_plan_cache(path, record) if path is not None else {}
    new: dict[str, dict[str, Any]] = {}
    out = []
    for w in weights:
        cands = _prune(
            w, batch_size, _candidates(w, batch_size, format, backends, threads)
        )
        if len(cands) == 1:
            fmt, be, th = cands[0]
            out.append(LayerPlan(fmt, be, th, "fixed"))
            continue
        key = _cache_key(w, batch_size, cands)
        hit = cached.get(key)
        if hit is not None and (hit["format"], hit["backend"], hit["threads"]) in cands:
            out.append(
                LayerPlan(
                    hit["format"], hit["backend"], hit["threads"], "cache", hit["times"]
                )
            )
            continue
        p = _measure(w, batch_size, cands, budget)
        out.append(p)
        new[key] = {
            "format": p.format,
            "backend": p.backend,
            "threads": p.threads,
            "times": dict(p.times),
        }
    if new and path is not None:
        _write_plan_cache(path, record, new)
    return out


# ----------------------------------------------------------------- cache


def _cache_key(
    weight: Weight, batch: int, cands: Sequence[tuple[str, str, int]]
) -> str:
    # The layer is known by its dtype, shape, nnz and a digest of its row
    # lengths (what the kernels' speed depends on), the plan by the batch
    # and the candidates allowed.
    lengths = np.ascontiguousarray(_row_lengths(weight), dtype="<i8")
    digest = hashlib.sha256(lengths.tobytes()).hexdigest()[:16]
    M, N = weight.shape
    names = ",".join(_label(*c) for c in cands)
    return (
        f"{np.dtype(weight.dtype).name}|{M}x{N}|nnz={int(lengths.sum())}|rows={digest}"
        f"|batch={batch}|{names}"
    )


@functools.cache
def cpu_model() -> str:
    """The CPU model name, from ``/proc/cpuinfo`` (else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def library_version(dist: str) -> str:
    """The installed version of distribution `dist`, or ``"not installed"``."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    """What a measured plan depends on: this machine and its libraries.

    Returns
    -------
    dict of str to str
        ``plan``, ``cpu`` (model), ``cpus`` (usable), ``machine``,
        ``system``, ``python``, ``numpy``, ``scipy``, ``numba``,
        ``sparsecore`` (versions), ``backends`` (importable) and ``threads``
        (the thread-count variables that are set).
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    env = ";".join(
        f"{v}={os.environ[v]}"
        for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        if v in os.environ
    )
    return {
        "plan": _PLAN_VERSION,
        "cpu": cpu_model(),
        "cpus": str(cpus),
        "machine": platform.machine(),
        "system": platform.system(),
        "python": ".".join(str(v) for v in sys.version_info[:2]),
        "numpy": np.__version__,
        "scipy": library_version("scipy"),
        "numba": library_version("numba"),
        "sparsecore": library_version("sparsecore"),
        "backends": ",".join(available_backends()),
        "threads": env,
    }


def cache_dir() -> str | None:
    """The plan cache's folder, or None when caching is disabled.

    ``$SPARSECORE_CACHE_DIR`` if set (the empty string: disabled), else
    ``$XDG_CACHE_HOME/sparsecore`` (when absolute), else
    ``~/.cache/sparsecore``.
    """
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return value or None
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "sparsecore")


def cache_path(record: Mapping[str, str] | None = None) -> str | None:
    """The plan file of this machine (:func:`machine`), or None (disabled)."""
    folder = cache_dir()
    if folder is None:
        return None
    record = machine() if record is None else record
    text = json.dumps(dict(record), sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return os.path.join(folder, f"plans-{digest}.json")


def _valid_entry(key: Any, e: Any) -> bool:
    if not isinstance(key, str) or len(key) > 1000 or not isinstance(e, dict):
        return False
    if set(e) != {"format", "backend", "threads", "times"}:
        return False
    th, times = e["threads"], e["times"]
    if isinstance(th, bool) or not isinstance(th, int) or not 0 <= th <= 1024:
        return False
    if not isinstance(times, dict) or len(times) > 64:
        return False
    for k, v in times.items():
        if not isinstance(k, str) or len(k) > 64:
            return False
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        if not (math.isfinite(v) and v > 0):
            return False
    try:
        LayerPlan(e["format"], e["backend"], th, "cache")
    except (TypeError, ValueError):
        return False
    return True


def read_plan_cache(
    path: str | os.PathLike[str], record: Mapping[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """The entries of a plan file, or ``{}`` if it is missing, corrupt or foreign.

    Parameters
    ----------
    path : str or path-like
    record : dict, optional
        The machine record the file must carry (default: :func:`machine`).

    Returns
    -------
    dict
        Cache key -> ``{"format", "backend", "threads", "times"}``. Empty
        when the file cannot be read, is over 4 MiB, is not JSON of the
        layout ``{"format": "sparsecore.plans", "version": 1, "machine":
        {...}, "entries": {...}}``, was written on another machine, or holds
        one malformed entry: such a file is never trusted in part.
    """
    record = machine() if record is None else dict(record)
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_CACHE_BYTES + 1)
    except OSError:
        return {}
    if len(raw) > _MAX_CACHE_BYTES:
        return {}
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {}
    if (
        not isinstance(doc, dict)
        or set(doc) != {"format", "version", "machine", "entries"}
        or doc["format"] != _CACHE_NAME
        or doc["version"] != _CACHE_VERSION
        or doc["machine"] != record
        or not isinstance(doc["entries"], dict)
        or len(doc["entries"]) > _MAX_ENTRIES
    ):
        return {}
    entries: dict[str, dict[str, Any]] = doc["entries"]
    if not all(_valid_entry(k, e) for k, e in entries.items()):
        return {}
    return entries


def _write_plan_cache(
    path: str, record: Mapping[str, str], new: Mapping[str, dict[str, Any]]
) -> None:
    # Merge with what is there now (another process may have added plans),
    # keep the newest _MAX_ENTRIES, replace atomically. A folder that cannot
    # be written costs only a re-measurement next time.
    entries = read_plan_cache(path, record)
    for key in new:
        entries.pop(key, None)
    entries.update(new)
    keys = list(entries)[-_MAX_ENTRIES:]
    doc = {
        "format": _CACHE_NAME,
        "version": _CACHE_VERSION,
        "machine": dict(record),
        "entries": {k: entries[k] for k in keys},
    }
    try:
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
        with atomic_write(path) as f:
            f.write(json.dumps(doc, indent=1, sort_keys=True).encode())
    except OSError:
        pass


def clear_plan_cache() -> int:
    """Delete every plan file (``plans-*.json``) in :func:`cache_dir`.

    Returns
    -------
    int
        The number of files deleted (0 when caching is disabled).
    """
    folder = cache_dir()
    if folder is None or not os.path.isdir(folder):
        return 0
    n = 0
    for name in os.listdir(folder):
        if name.startswith("plans-") and name.endswith(".json"):
            try:
                os.remove(os.path.join(folder, name))
                n += 1
            except OSError:
                pass
    return n
