"""Sparse vs dense inference on the tutorial network.

Two ways to run it:

- as a script (the committed tables come from this), which times every method
  side by side, interleaved, and writes ``results/inference.{csv,md}`` (every
  CSV row carries the environment: CPU, BLAS and its threads, the backends
  importable)::

      python benchmarks/inference.py            # full sweep (~15-20 min)
      python benchmarks/inference.py --quick    # a few cells (~1 min)
      python benchmarks/inference.py --readme   # README table from results/
      python benchmarks/inference.py --kernels  # the NumPy kernel's layouts

  The NumPy-only columns (``sc_numpy*``) run single-threaded (NumPy's kernels
  hold no thread pool); dense runs with BLAS's default threads. Run the sweep
  again with ``OPENBLAS_NUM_THREADS=1`` to compare both single-threaded.

- with asv (``asv run``): :class:`Inference` follows the asv shape (``params``,
  ``setup`` that builds and warms up, ``time_*`` that only runs the call).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

from common import batch_input, tutorial  # noqa: E402

from sparsecore import bench  # noqa: E402
from sparsecore.bench.methods import build_method  # noqa: E402


class Inference:
    """asv: time one forward pass of each method, per sparsity and batch."""

    params = [
        list(bench.DEFAULT_SPARSITIES),
        list(bench.DEFAULT_BATCHES),
        list(bench.METHODS),
    ]
    param_names = ["sparsity", "batch", "method"]

    def setup(self, sparsity: float, batch: int, method: str) -> None:
        layers = tutorial(sparsity)
        fn = build_method(method, layers, batch, "float32", None)
        if fn is None:
            raise NotImplementedError(f"{method} is not available here")
        self.fn, self.x = fn, batch_input(batch)
        for _ in range(3):
            self.fn(self.x)

    def time_forward(self, sparsity: float, batch: int, method: str) -> None:
        self.fn(self.x)


class StructuredInference(Inference):
    """asv: the 75 % structured (neuron-pruned) network."""

    params = [list(bench.DEFAULT_BATCHES), list(bench.METHODS)]
    param_names = ["batch", "method"]

    def setup(self, batch: int, method: str) -> None:  # type: ignore[override]
        layers = tutorial(bench.STRUCTURED_SPARSITY, structured=True)
        fn = build_method(method, layers, batch, "float32", None)
        if fn is None:
            raise NotImplementedError(f"{method} is not available here")
        self.fn, self.x = fn, batch_input(batch)
        self.fn(self.x)

    def time_forward(self, batch: int, method: str) -> None:  # type: ignore[override]
        self.fn(self.x)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a few cells, 3 rounds")
    p.add_argument(
        "--calibrate",
        action="store_true",
        help="time one 1024x1024 layer dense vs CSR per backend, batch and "
        "density; writes <out>.calibration.csv and prints the break-even "
        "densities behind format='auto'",
    )
    p.add_argument("--sparsities", type=float, nargs="+")
    p.add_argument("--batches", type=int, nargs="+")
    p.add_argument("--dtypes", nargs="+", default=["float32"])
    p.add_argument("--methods", nargs="+", default=list(bench.METHODS))
    p.add_argument("--repeats", type=int)
    p.add_argument("--min-time", type=float, default=0.02)
    p.add_argument("--threads", type=int)
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        help="re-runs of a cell whose dense time shows other load (default 2)",
    )
    p.add_argument(
        "--kernels",
        action="store_true",
        help="time the pure-NumPy kernel's layouts and building blocks on the "
        "tutorial's first layer (ns per nonzero; docs/inference.md) and exit",
    )
    p.add_argument(
        "--readme",
        nargs="?",
        const=os.path.join(_HERE, "results", "inference.csv"),
        metavar="CSV",
        help="regenerate README.md's inference table from a sweep's CSV "
        "(default results/inference.csv) and exit",
    )
    p.add_argument(
        "--out",
        default=os.path.join(_HERE, "results", "inference"),
        help="output prefix: writes <out>.csv and <out>.md",
    )
    a = p.parse_args(argv)
    if a.calibrate:
        return calibrate(a)
    if a.kernels:
        return kernels(a)
    if a.readme:
        readme = os.path.join(os.path.dirname(_HERE), "README.md")
        source = os.path.relpath(a.readme, os.path.dirname(_HERE))
        bench.update_readme(readme, bench.read_csv(a.readme), source)
        print(f"updated the inference table of {readme} from {a.readme}")
        return 0
    if a.quick:
        sparsities = a.sparsities or [0.9, 0.99]
        batches = a.batches or [1, 256]
        repeats = a.repeats or 3
    else:
        sparsities = a.sparsities or list(bench.DEFAULT_SPARSITIES)
        batches = a.batches or list(bench.DEFAULT_BATCHES)
        repeats = a.repeats or 9
    env = bench.environment()
    t0 = time.perf_counter()
    rows = bench.run_inference_sweep(
        sparsities,
        batches,
        a.dtypes,
        repeats,
        methods=a.methods,
        min_time=a.min_time,
        threads=a.threads,
        retries=a.retries,
        progress=print,
    )
    env["load average (end)"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    env["duration"] = f"{time.perf_counter() - t0:.0f} s"
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    bench.write_csv(rows, a.out + ".csv", env=env)
    command = "python benchmarks/inference.py " + " ".join(argv or sys.argv[1:])
    bench.write_markdown(
        rows,
        a.out + ".md",
        env=env,
        command=command.strip(),
        notes=bench.explain(rows),
    )
    print(bench.format_table(rows, markdown=False))
    print(f"wrote {a.out}.csv and {a.out}.md")
    return 0


def kernels(a: argparse.Namespace) -> int:
    """Time the NumPy kernel's choices on the tutorial's first layer.

    Per sparsity and batch: the old CSR kernel (``np.add.reduceat`` over the
    rows), the sliced ELLPACK kernel, and scipy's, numba's and the dense
    product for scale; at batch 1 also the building blocks (the gather's
    modes, the row sums); in ns per nonzero per column, interleaved medians.
    """
    import functools

    from sparsecore.bench.timing import time_interleaved
    from sparsecore.runtime.csr import CSRMatrix, available_backends
    from sparsecore.runtime.ell import COLUMNS
    from sparsecore.runtime.plan import layer_op

    sparsities = a.sparsities or [0.9, 0.95, 0.99]
    batches = a.batches or [1, 16, 256]
    print(bench.environment())
    for s in sparsities:
        wt = np.ascontiguousarray(tutorial(s)[0][0].T)
        A = CSRMatrix.from_dense(wt)
        M, N = A.shape
        for b in batches:
            rng = np.random.default_rng(0)
            H = rng.standard_normal((N, b) if b > 1 else N).astype(np.float32)
            Y = np.zeros((M, b) if b > 1 else M, np.float32)
            bias = np.zeros((M, 1) if b > 1 else M, np.float32)
            rows_kernel = functools.partial(_rows_kernel, A, H, Y)
            fns = {
                "csr reduceat": rows_kernel,
                "sliced ELL": functools.partial(layer_op(A, "numpy"), H, Y, bias),
                "dense": functools.partial(layer_op(wt, "blas"), H, Y, bias),
            }
            for be in available_backends():
                if be != "numpy":
                    fns[be] = functools.partial(layer_op(A, be), H, Y, bias)
            if b == 1:
                e = A.ell(COLUMNS)
                p = np.empty(e.padded, np.float32)
                idx32 = e.cols.astype(np.int32)
                ones = np.ones(e.slices[0][2], np.float32)
                for mode in ("wrap", "clip", "raise"):
                    fns[f"gather {mode}"] = functools.partial(
                        np.take, H, e.cols, out=p, mode=mode
                    )
                fns["gather int32"] = functools.partial(
                    np.take, H, idx32, out=p, mode="wrap"
                )
                fns["row sums reduce"] = functools.partial(_sums, e, p, None)
                fns["row sums dot"] = functools.partial(_sums, e, p, ones)
            t = time_interleaved(fns, a.repeats or 9, min_time=a.min_time).median
            print(
                f"sparsity {s:g}, batch {b} ({A.nnz:,} nonzeros): "
                + ", ".join(f"{k} {v / (A.nnz * b) * 1e9:.3f}" for k, v in t.items())
                + " ns per nonzero per column"
            )
    return 0


def _rows_kernel(A, H, Y) -> None:  # type: ignore[no-untyped-def]
    # The NumPy kernel before sliced ELLPACK: reduceat over the rows of CSR
    # (what the runtime still uses for a range of rows).
    from sparsecore.runtime.csr import get_kernel

    get_kernel("numpy")(A, H, Y, 0, A.shape[0] - 1)
    get_kernel("numpy")(A, H, Y, A.shape[0] - 1, A.shape[0])


def _sums(e, p, ones) -> None:  # type: ignore[no-untyped-def]
    t = np.empty(e.order.shape[0] + 1, p.dtype)
    for r0, r1, K, off in e.slices:
        block = p[off : off + K * (r1 - r0)].reshape(K, r1 - r0)
        if ones is None:
            np.add.reduce(block, axis=0, out=t[r0:r1])
        else:
            np.dot(ones[:K], block, out=t[r0:r1])


def calibrate(a: argparse.Namespace) -> int:
    batches = a.batches or list(bench.DEFAULT_BATCHES)
    rows = bench.calibrate_auto(
        batches=batches,
        repeats=a.repeats or 5,
        min_time=a.min_time,
        threads=a.threads,
        progress=print,
    )
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    bench.write_csv(rows, a.out + ".calibration.csv")
    print("break-even density (CSR as fast as dense), and 0.75x of it:")
    for be, per_batch in bench.break_even_densities(rows).items():
        print(
            f"  {be}: "
            + ", ".join(
                f"batch {b}: {d:.3f} -> {0.75 * d:.3f}" for b, d in per_batch.items()
            )
        )
    print(f"wrote {a.out}.calibration.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
