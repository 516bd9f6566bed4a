"""The environment record: what machine and libraries a measurement ran on.

Every result sparsecore writes (the demo's JSON, benchmark tables, sweep cells)
carries :func:`environment`, so a number can always be traced to the CPU, the
BLAS and its threads, the library versions and the load it was measured under.
Library versions are read from the installed metadata, without importing the
libraries (importing torch alone takes a second).
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from typing import Any

import numpy as np

from sparsecore._version import __version__
from sparsecore.runtime.plan import cpu_model, library_version

__all__ = ["environment", "usable_cpus"]

_LIBRARIES = ("scipy", "numba", "torch", "scikit-learn", "threadpoolctl", "distributed")


def usable_cpus() -> int:
    """The cores this process may run on (its affinity mask where known)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _blas() -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        cfg: Any = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        out["blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - informational only (older NumPy)
        pass
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return out
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    if pools:
        out["blas threads"] = ", ".join(
            f"{p.get('internal_api')} {p.get('num_threads')}" for p in pools
        )
    return out


def environment() -> dict[str, str]:
    """Machine, libraries, threads and load, as strings (JSON- and table-ready).

    Returns
    -------
    dict of str to str
        ``date`` (UTC), ``sparsecore``, ``python``, ``platform``, ``machine``,
        ``cpu``, ``cpus`` (usable by this process), ``numpy``, ``blas`` (and
        ``blas threads`` when threadpoolctl is installed), the version of each
        optional library (or ``"not installed"``), the thread-count variables
        that are set, ``load average`` and ``sparsecore backends`` (the CSR
        kernels importable here, fastest first).
    """
    from sparsecore.runtime import available_backends

    env: dict[str, str] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"
        ),
        "sparsecore": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpus": str(usable_cpus()),
        "numpy": np.__version__,
        **_blas(),
    }
    env.update({lib: library_version(lib) for lib in _LIBRARIES})
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if var in os.environ:
            env[var] = os.environ[var]
    if hasattr(os, "getloadavg"):
        env["load average"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    env["sparsecore backends"] = ", ".join(available_backends())
    return env
