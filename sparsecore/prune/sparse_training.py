"""Sparse training: the masked Dense layers of a model trained on sparse kernels.

While a layer's mask stays fixed, training it densely and masking wastes
nearly all of the work at high sparsity. :class:`SparseTraining` puts such a
layer on the sparse path: its kernel is kept as the ``nnz`` kept values alone
(``theta = K[mask]``, row-major order), the layer computes through a
:class:`SparseKernel` (a :class:`~sparsecore.nn.layers.KernelOperator`), and
the optimizer updates those ``nnz`` values with slots of ``nnz`` entries::

    forward            y  = x K         YT  = K^T XT             (B n_out)
    input gradient     dx = g K^T       DXT = K GT               (B n_in)
    weight gradient    dtheta = (x^T g)[mask]   sampled (SDDMM)  (nnz)

each ``nnz * B`` multiply-adds instead of ``n_in * n_out * B``, on the
kernels of :class:`sparsecore.runtime.pattern.SparsityPattern` (numba, scipy
or NumPy). The activations travel transposed between sparse layers (a sparse
layer returns a Fortran-ordered array, which the elementwise layers keep, so
the next one reads its transpose without a copy). A product may also stay
dense (BLAS on a dense copy of the kernel, or the dense ``x^T g`` gathered at
the kept positions) where that is faster: the optimizer still works on
``nnz`` values and no mask is applied.

Exactness: the pruned weights, their gradients and optimizer state do not
exist on the sparse path, so they are exactly zero whenever the kernel is
expanded (:meth:`~sparsecore.nn.layers.Layer.param_value`: ``model.get_weights()``,
checkpoints, :meth:`SparseTraining.stop`). The kept values follow the same
updates as in dense-masked training; only the sums of the products are
associated differently (float32 rounding).

Which layers go sparse (``mode``):

``"auto"``
    A layer goes sparse when the cost model (:func:`estimate_seconds`,
    calibrated on the machine named below) rates its training step on the
    best plan faster than its dense-masked step; each product takes its
    fastest option. Small layers stay dense-masked (fixed costs dominate).
``"measure"``
    As "auto", but the products are timed on the layer itself at the batch
    size (a few milliseconds per candidate; the candidates the cost model
    rates over 8x slower than dense are not timed), once per layer shape,
    nnz, batch size and dtype in a process.
``True``
    Every eligible layer, every product on the fastest sparse backend
    installed (for tests and benchmarks).
``False``
    None.

A layer is eligible when it is a :class:`~sparsecore.nn.layers.Dense`
kernel with a 2-D mask and the optimizer is :class:`~sparsecore.nn.SGD`,
:class:`~sparsecore.nn.Adam` or :class:`~sparsecore.nn.AdamW` (elementwise,
so an update on the kept values is the dense update restricted to them).

Masks that change: call :meth:`SparseTraining.update` again with the new
masks (the mask-change notification). A position kept by both masks keeps
its value and optimizer state; a newly kept one starts at 0 with zero state
(as RigL and SET grow connections); a dropped one is gone. A callback that
needs dense gradients at some step (RigL's growth) calls
:meth:`SparseTraining.stop` before that step's forward pass and
:meth:`~SparseTraining.update` after its mask update.
"""

from __future__ import annotations

import functools
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sparsecore._checks import validate_choice, validate_int, validate_type
from sparsecore._text import format_table
from sparsecore.nn.layers import Dense
from sparsecore.nn.optimizers import SGD, Adam, AdamW, Optimizer
from sparsecore.runtime.auto import estimate_seconds as dense_estimate
from sparsecore.runtime.csr import available_backends, default_threads
from sparsecore.runtime.pattern import SparsityPattern, transposed

__all__ = [
    "DENSE",
    "ELEMENTWISE_OPTIMIZERS",
    "MODES",
    "PRODUCTS",
    "LayerTrainingPlan",
    "SparseKernel",
    "SparseTraining",
    "estimate_seconds",
    "validate_mode",
]

#: The values of ``mode`` (``sparse_training`` of a Pruner).
MODES = ("auto", "measure", True, False)
#: The three products of a layer's training step.
PRODUCTS = ("forward", "input", "weight")
#: A product computed densely (BLAS).
DENSE = "dense"
#: Optimizers whose update of an entry reads only that entry's weight,
#: gradient and slots (exact classes: a subclass may update otherwise).
ELEMENTWISE_OPTIMIZERS: tuple[type[Optimizer], ...] = (SGD, Adam, AdamW)

# ---------------------------------------------------------------- cost model
# Fitted to ``python benchmarks/training.py --calibrate`` (one 1024 x 1024
# layer, densities 1-20 %, batches 32, 256 and 1024; the table is
# benchmarks/results/training.calibration.md) on the 2-core AMD EPYC (Zen 5,
# 1 MiB L2 per core) of the benchmarks, float32, NumPy 2.4 on OpenBLAS, and
# rounded up: seconds of one sparse product = FIXED + nnz * (PER_NNZ + B *
# PER_MAC) / THREAD_SPEEDUP + rows * B * OUTPUT_S, with `rows` the dense
# output's (the forward and input products write every row).
PER_MAC: dict[str, dict[str, float]] = {
    # product -> backend -> seconds per multiply-add, one thread
    "forward": {"numba": 50e-12, "scipy": 110e-12, "numpy": 1800e-12},
    "input": {"numba": 55e-12, "scipy": 110e-12, "numpy": 2000e-12},
    "weight": {"numba": 60e-12, "scipy": 650e-12, "numpy": 650e-12},
}
PER_NNZ: dict[str, float] = {"numba": 3e-9, "scipy": 5e-9, "numpy": 12e-9}
#: Seconds per value of a sparse product's dense output (its row starts).
OUTPUT_S = 0.25e-9
FIXED: dict[str, float] = {
    "numba": 10e-6,
    "scipy": 10e-6,
    "numpy": 40e-6,
    DENSE: 5e-6,  # the scatter or gather of the kept values around BLAS
}
#: "auto" and "measure" leave kernels of fewer entries dense-masked (their
#: step is a few microseconds of call overheads either way), unless a
#: neighbouring Dense layer is sparse.
MIN_SIZE = 65536
_SMALL = f"fewer than {MIN_SIZE} weights"
#: Speed-up of a split product on 2 or more threads, per backend.
THREAD_SPEEDUP: dict[str, float] = {"numba": 1.8, "scipy": 1.4, "numpy": 1.0}
#: Seconds per element: a transpose copy, a scatter or gather of values, an
#: optimizer update (Adam; SGD is cheaper, but the comparison is what
#: matters) and one in-place mask multiplication.
TRANSPOSE_S = 0.45e-9
GATHER_S = 1.0e-9
OPTIMIZER_S = 2.0e-9
MASK_S = 0.35e-9
#: Seconds per kernel entry and per kept entry of converting one array
#: (kernel or slot) between the dense and the sparse form.
CONVERT_S = 1.0e-9
CONVERT_NNZ_S = 20e-9
#: "auto" takes the sparse path when it is estimated this much faster than
#: dense-masked (dense on ties).
MARGIN = 0.9
#: A product runs on a sparse backend only when estimated at most this
#: fraction of its dense time (the estimates are off by up to ~30 % from run
#: to run on a shared machine; dense is never slower than dense-masked).
PRODUCT_MARGIN = 0.75
# plan="measure": not timed when estimated this many times slower than dense.
_PRUNE_FACTOR = 8.0
_MEASURE_BUDGET = 0.05


def validate_mode(name: str, mode: Any) -> Any:
    """`mode`: one of ``"auto"``, ``"measure"``, True, False."""
    if isinstance(mode, (bool, np.bool_)):
        return bool(mode)
    if not isinstance(mode, str):
        raise TypeError(
            f"{name} must be 'auto', 'measure', True or False; got {mode!r}"
        )
    return validate_choice(name, mode, ("auto", "measure"))


def estimate_seconds(
    product: str,
    backend: str,
    shape: tuple[int, int],
    nnz: int,
    batch_size: int,
    threads: int = 1,
) -> float:
    """Estimated seconds of one product of a layer's training step.

    Parameters
    ----------
    product : {'forward', 'input', 'weight'}
    backend : {'dense', 'numba', 'scipy', 'numpy'}
        ``'dense'``: BLAS with the dense kernel (plus the scatter or gather
        of the kept values it needs).
    shape : tuple of int
        The kernel's ``(n_in, n_out)``.
    nnz : int
        Kept weights.
    batch_size : int
    threads : int, default=1

    Returns
    -------
    float

    Notes
    -----
    Dense: the inference planner's dense cost (``g(B)`` seconds per
    multiply-add, :func:`sparsecore.runtime.auto.estimate_seconds`) over
    ``n_in n_out B`` multiply-adds, plus ``nnz`` gathered or scattered
    values. Sparse, with backend constants ``c, a, m`` (:data:`FIXED`,
    :data:`PER_NNZ`, :data:`PER_MAC`) and ``s`` the speed-up on threads
    (:data:`THREAD_SPEEDUP`, for products of at least 1e5 multiply-adds),
    and ``r`` the rows of the dense output of the forward and input products
    (:data:`OUTPUT_S` ``= o`` per value):

    .. math:: t = c + (\\mathrm{nnz}\\,(a + B\\,m) + r B o) / s
    """
    n_in, n_out = shape
    B = max(1, batch_size)
    if backend == DENSE:
        t = dense_estimate("dense", "blas", (n_out, n_in), nnz, B)
        return t + (FIXED[DENSE] + nnz * GATHER_S if nnz else 0.0)
    if product == "weight" and backend == "scipy":
        backend = "numpy"  # scipy has no sampled product
    s = THREAD_SPEEDUP[backend] if threads > 1 and nnz * B >= 100_000 else 1.0
    rows = {"forward": n_out, "input": n_in}.get(product, 0)
    work = (
        nnz * (PER_NNZ[backend] + B * PER_MAC[product][backend]) + rows * B * OUTPUT_S
    )
    return FIXED[backend] + work / s


@dataclass(frozen=True)
class LayerTrainingPlan:
    """How one masked layer trains.

    Attributes
    ----------
    name : str
        The weight, e.g. ``"dense_1/kernel"``.
    sparse : bool
        On the sparse path (values, products and optimizer on ``nnz``), or
        left to dense-masked training.
    forward, input, weight : str
        Each product's backend (``'numba'``, ``'scipy'``, ``'numpy'``) or
        ``'dense'``. ``input`` is ``'none'`` for the first layer (``fit``
        skips its input gradient).
    threads : int
    source : {'estimate', 'measure', 'forced', 'neighbour', 'ineligible'}
        ``'neighbour'``: a small layer next to a sparse one, put on the
        sparse path so that the activations between them stay transposed.
    seconds_sparse, seconds_dense : float
        The estimated (or measured) seconds of one training step of the
        layer on this plan and dense-masked; NaN when not computed.
    reason : str
        Why a layer stays dense-masked (empty otherwise).
    """

    name: str
    sparse: bool
    forward: str = DENSE
    input: str = DENSE
    weight: str = DENSE
    threads: int = 1
    source: str = "estimate"
    seconds_sparse: float = math.nan
    seconds_dense: float = math.nan
    reason: str = ""


# ------------------------------------------------------------------ operator
class SparseKernel:
    """A Dense layer's kernel pruned by a fixed mask, trained as its kept values.

    The :class:`~sparsecore.nn.layers.KernelOperator` that
    :class:`SparseTraining` installs; ``theta`` is ``K[mask]`` of shape
    ``(nnz,)`` in row-major order.

    Parameters
    ----------
    pattern : SparsityPattern
    plan : LayerTrainingPlan
        The backend of each product and the threads.
    dtype : dtype
        Of the model (inputs of another dtype are cast to it).

    Notes
    -----
    ``matmul`` returns ``y`` Fortran-ordered (the transpose of the
    C-contiguous ``YT`` the kernels write) for a sparse forward product;
    the transposed input and gradient of the last call are kept for the
    backward products of the same step (as Dense keeps its input).
    """

    def __init__(
        self, pattern: SparsityPattern, plan: LayerTrainingPlan, dtype: Any
    ) -> None:
        self.pattern = pattern
        self.plan = plan
        self.shape = pattern.shape
        self.dtype = np.dtype(dtype)
        self._x: np.ndarray | None = None
        self._xt: np.ndarray | None = None
        self._g: np.ndarray | None = None
        self._gt: np.ndarray | None = None
        self._xbuf: np.ndarray | None = None
        self._gbuf: np.ndarray | None = None
        # The dense buffers of dense products, made now (part of the state,
        # not of a step): the kernel for BLAS, the dense x^T g.
        self._mirror: np.ndarray | None = None
        self._grad: np.ndarray | None = None
        if DENSE in (plan.forward, plan.input):
            pattern.positions(keep=True)
            self._dense(np.zeros(pattern.nnz, self.dtype))
        if plan.weight == DENSE:
            pattern.positions(keep=True)
            self._grad = np.empty(self.shape, dtype=self.dtype)

    def __repr__(self) -> str:
        p = self.plan
        return (
            f"SparseKernel(shape={self.shape}, nnz={self.pattern.nnz}, "
            f"forward={p.forward!r}, input={p.input!r}, weight={p.weight!r})"
        )

    @property
    def nbytes(self) -> int:
        """Bytes this operator holds besides ``theta``: indices, dense buffers."""
        extra = sum(a.nbytes for a in (self._mirror, self._grad) if a is not None)
        return self.pattern.nbytes + extra

    # ------------------------------------------------------------------ layouts
    def _cast(self, a: np.ndarray) -> np.ndarray:
        return a if a.dtype == self.dtype else a.astype(self.dtype)

    # The transposes are made fresh by the first product that needs them in
    # a step (forward for x, the weight gradient for g) and reused only by
    # the next one, on the same array object: an array changed in place
    # between steps (as a gradient check does) is never read stale.
    # A transpose that must be copied goes into a buffer kept from step to
    # step (it never leaves the operator).
    def _input_t(self, x: np.ndarray, fresh: bool) -> np.ndarray:
        if fresh or x is not self._x or self._xt is None:
            xt = transposed(self._cast(x), self._xbuf)
            if not np.shares_memory(xt, x):
                self._xbuf = xt
            self._x, self._xt = x, xt
        return self._xt

    def _grad_t(self, g: np.ndarray, fresh: bool) -> np.ndarray:
        if fresh or g is not self._g or self._gt is None:
            gt = transposed(self._cast(g), self._gbuf)
            if not np.shares_memory(gt, g):
                self._gbuf = gt
            self._g, self._gt = g, gt
        return self._gt

    def _dense(self, theta: np.ndarray) -> np.ndarray:
        # The dense kernel for BLAS, rewritten from theta at every use (theta
        # changes in place between steps; nnz writes).
        if self._mirror is None:
            self._mirror = np.zeros(self.shape, dtype=self.dtype)
        self._mirror.reshape(-1)[self.pattern.positions(keep=True)] = theta
        return self._mirror

    # ------------------------------------------------------------------ products
    def matmul(
        self, x: np.ndarray, theta: np.ndarray, bias: np.ndarray | None = None
    ) -> np.ndarray:
        """``x @ K + bias``: ``(B, n_in) -> (B, n_out)``."""
        plan = self.plan
        if plan.forward == DENSE:
            y: np.ndarray = self._cast(x) @ self._dense(theta)
            if bias is not None:
                y += bias
            return y
        xt = self._input_t(x, fresh=True)
        yt = np.empty((self.shape[1], xt.shape[1]), dtype=self.dtype)
        self.pattern.product_t(theta, xt, yt, plan.forward, plan.threads, bias)
        return yt.T

    def kernel_grad(
        self, x: np.ndarray, g: np.ndarray, theta: np.ndarray, out: np.ndarray
    ) -> None:
        """``out = (x^T g)[mask]``: the gradient of the kept values."""
        plan = self.plan
        if plan.weight == DENSE:
            if self._grad is None:
                self._grad = np.empty(self.shape, dtype=self.dtype)
            np.matmul(self._cast(x).T, self._cast(g), out=self._grad)
            pos = self.pattern.positions(keep=True)
            np.take(self._grad.reshape(-1), pos, out=out)
            return
        xt, gt = self._input_t(x, fresh=False), self._grad_t(g, fresh=True)
        self.pattern.sampled_product(xt, gt, out, plan.weight, plan.threads)
        self._x = self._xt = None  # the step's last use of x

    def input_grad(self, g: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """``g @ K^T``: ``(B, n_out) -> (B, n_in)``."""
        plan = self.plan
        if plan.input in (DENSE, "none"):
            dx: np.ndarray = self._cast(g) @ self._dense(theta).T
            return dx
        gt = self._grad_t(g, fresh=False)
        dxt = np.empty((self.shape[0], gt.shape[1]), dtype=self.dtype)
        self.pattern.product(theta, gt, dxt, plan.input, plan.threads)
        self._g = self._gt = None  # the step's last use of g
        return dxt.T

    def to_kernel(self, a: np.ndarray) -> np.ndarray:
        """The ``(n_in, n_out)`` kernel for values `a`: zero where pruned."""
        return self.pattern.scatter(np.asarray(a))

    def from_kernel(self, k: np.ndarray) -> np.ndarray:
        """The kept values of kernel `k` (its pruned entries are dropped)."""
        return self.pattern.gather(np.asarray(k, dtype=self.dtype))


# -------------------------------------------------------------------- engine
@dataclass
class _Entry:
    layer: Dense
    pattern: SparsityPattern
    mask: np.ndarray  # the mask object the pattern was built from
    op: SparseKernel
    batch: int  # the batch size planned for


def _find_dense_layers(model: Any) -> dict[str, tuple[Dense, bool]]:
    """``"<layer>/kernel"`` -> (Dense layer, is it the first layer)."""
    out = {}
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Dense):
            out[f"{layer.name}/kernel"] = (layer, i == 0)
    return out


def _neighbours(model: Any, name: str) -> list[str]:
    """The kernels of the Dense layers before and after `name`'s layer."""
    dense = [f"{la.name}/kernel" for la in model.layers if isinstance(la, Dense)]
    i = dense.index(name)
    return dense[max(0, i - 1) : i] + dense[i + 1 : i + 2]


def _next_dense_is_sparse(model: Any, layer: Dense, names: set[str]) -> bool:
    """Whether the next Dense after `layer` (through elementwise layers) is masked."""
    layers = list(model.layers)
    for nxt in layers[layers.index(layer) + 1 :]:
        if isinstance(nxt, Dense):
            return f"{nxt.name}/kernel" in names
    return False


def _same_request(last: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
    """Whether an update asks for what the last one planned: the same model,
    optimizer and mask objects, batch size, mode and backend."""
    return (
        last[0] is new[0]
        and last[1] is new[1]
        and last[2:5] == new[2:5]
        and len(last[5]) == len(new[5])
        and all(
            a == c and b is d for (a, b), (c, d) in zip(last[5], new[5], strict=True)
        )
    )


class SparseTraining:
    """Train a model's masked Dense layers on sparse kernels while masks are fixed.

    Parameters
    ----------
    mode : {'auto', 'measure', True, False}, default='auto'
        Which layers go sparse (see the module notes).
    backend : {'auto', 'numba', 'scipy', 'numpy'}, default='auto'
        The sparse kernels allowed: ``'auto'`` all installed ones.
    threads : int, optional
        Threads of a split product; default
        :func:`~sparsecore.runtime.csr.default_threads`.

    Attributes
    ----------
    plans : dict of str to LayerTrainingPlan
        The last plan of every masked weight seen by :meth:`update`.
    model : Sequential or None
        The model whose layers are on the sparse path.

    Examples
    --------
    A callback that manages its own masks (RigL, SET) notifies the engine::

        engine = SparseTraining("auto")
        engine.update(model, masks, batch_size)   # after every mask change
        engine.stop()                             # dense again (on_train_end)
    """

    def __init__(
        self, mode: Any = "auto", *, backend: str = "auto", threads: int | None = None
    ) -> None:
        self.mode = validate_mode("mode", mode)
        self._measured: dict[tuple[Any, ...], LayerTrainingPlan] = {}
        self.backend = backend
        self.threads = (
            default_threads()
            if threads is None
            else validate_int("threads", threads, 1)
        )
        self.plans: dict[str, LayerTrainingPlan] = {}
        self.model: Any = None
        self._entries: dict[str, _Entry] = {}
        self._patterns: dict[str, tuple[np.ndarray, SparsityPattern]] = {}
        # What the last update planned for: the same masks (the same objects)
        # at the same batch size need no new plan, whatever each layer chose.
        self._planned: tuple[Any, ...] | None = None

    def __repr__(self) -> str:
        return (
            f"SparseTraining(mode={self.mode!r}, backend={self.backend!r}, "
            f"sparse={self.names})"
        )

    # ------------------------------------------------------------------ views
    @property
    def backend(self) -> str:
        """The sparse kernels allowed (``'auto'``: every one installed).

        Set it to plan as on a machine with fewer libraries (``'scipy'``:
        without the ``fast`` extra); it applies from the next plan.
        """
        return self._backend

    @backend.setter
    def backend(self, value: str) -> None:
        validate_type("backend", value, str, "a str")
        self._backend: str = validate_choice(
            "backend", value, ("auto", "numba", "scipy", "numpy")
        )
        self._measured = {}

    @property
    def active(self) -> bool:
        """Whether any layer is on the sparse path."""
        return bool(self._entries)

    @property
    def names(self) -> list[str]:
        """The weights on the sparse path."""
        return list(self._entries)

    def operator(self, name: str) -> SparseKernel:
        """The operator of the sparse weight `name`."""
        return self._entries[name].op

    def dense_weights(self) -> Mapping[str, np.ndarray]:
        """The model's weights with every sparse kernel expanded, on access.

        A read-only mapping of ``model.weights()``'s names: a sparse kernel
        is materialised (a new dense array with zeros where pruned) each
        time it is read, any other weight is the live array. For computing
        new masks from the weights.
        """
        return _DenseWeights(self)

    def nbytes(self) -> int:
        """Bytes of the sparse path's index arrays and dense buffers."""
        return sum(e.op.nbytes for e in self._entries.values())

    def summary(self) -> str:
        """A table of the plans: per masked weight, path, products, seconds."""
        rows = [
            (
                "weight",
                "path",
                "forward",
                "input",
                "weight grad",
                "threads",
                "source",
                "est. sparse",
                "est. dense",
            )
        ]
        for p in self.plans.values():
            rows.append(
                (
                    p.name,
                    "sparse" if p.sparse else "dense-masked",
                    p.forward if p.sparse else "-",
                    p.input if p.sparse else "-",
                    p.weight if p.sparse else "-",
                    str(p.threads) if p.sparse else "-",
                    p.source,
                    _ms(p.seconds_sparse),
                    _ms(p.seconds_dense),
                )
            )
        return format_table(rows, "lllllrlrr", rules=(1, len(rows)))

    # ------------------------------------------------------------------ update
    def update(
        self,
        model: Any,
        masks: Mapping[str, np.ndarray],
        batch_size: int | None,
        *,
        fixed_steps: int | None = None,
    ) -> list[str]:
        """Put the masked layers of `model` where the mode says (the notification).

        Call it whenever the masks may have changed: it is cheap when they
        did not (same mask arrays). Each masked Dense kernel is planned
        (:attr:`plans`); a layer going sparse has its kernel and optimizer
        slots gathered at the kept positions; a sparse layer whose mask
        changed carries its values and slots to the new pattern (positions
        kept by both keep theirs, new ones start at 0); a layer leaving the
        sparse path, or whose name is no longer in `masks`, gets its dense
        kernel back.

        Parameters
        ----------
        model : Sequential
            Compiled (its optimizer's slots are converted).
        masks : dict of str to bool ndarray
            Current masks (True = kept) by weight name; names that are not
            Dense kernels stay with the caller's masking.
        batch_size : int or None
            The training batch size the plan is made for (None: 32).
        fixed_steps : int, optional
            How many steps the masks are expected to stay as they are (None:
            many); the estimate spreads the cost of the conversion over them.

        Returns
        -------
        list of str
            The weights on the sparse path now.
        """
        if self.model is not None and model is not self.model:
            self.stop()
        B = 32 if batch_size is None else validate_int("batch_size", batch_size, 1)
        steps = (
            1000 if fixed_steps is None else validate_int("fixed_steps", fixed_steps, 1)
        )
        if self.mode is False:
            self.stop()
            return []
        optimizer = getattr(model, "optimizer", None)
        planned = (model, optimizer, B, self.mode, self.backend, list(masks.items()))
        if self._planned is not None and _same_request(self._planned, planned):
            return self.names
        dense_layers = _find_dense_layers(model)
        masked = set(masks)
        wanted: dict[str, LayerTrainingPlan] = {}
        for name, mask in masks.items():
            entry = self._entries.get(name)
            same = entry is not None and (
                entry.mask is mask or entry.pattern.equals_mask(mask)
            )
            if same and entry is not None and entry.batch == B:
                entry.mask = mask
                wanted[name] = self.plans[name]  # unchanged: keep the plan
                continue
            plan = self._plan(
                model, name, mask, B, optimizer, dense_layers, masked, steps
            )
            self.plans[name] = plan
            if plan.sparse:
                wanted[name] = plan
                if same and entry is not None:  # a new batch size: new products
                    entry.mask, entry.batch, entry.op.plan = mask, B, plan
        # A small masked layer next to a sparse one goes sparse too: the
        # activations between them then stay transposed (a dense one hands its
        # neighbours C-ordered arrays to transpose, ~0.5 ns per value).
        for name in masks:
            plan = self.plans[name]
            if name in wanted or plan.reason != _SMALL:
                continue
            if any(n in wanted for n in _neighbours(model, name)):
                wanted[name] = self.plans[name] = self._forced_plan(
                    name, dense_layers[name][1], "neighbour"
                )
        for name in [n for n in self._entries if n not in wanted]:
            self._release(name, optimizer)
        for name, plan in wanted.items():
            mask = masks[name]
            entry = self._entries.get(name)
            if entry is None:
                self._install(model, name, mask, plan, optimizer, dense_layers, B)
            elif entry.mask is not mask:
                self._carry(name, mask, plan, optimizer, B)
        if self._entries:
            self.model = model
            if optimizer is not None:
                optimizer.build(model.weights())  # scratch of the new shapes
        else:
            self.model = None
        self._planned = planned
        return self.names

    def stop(self) -> None:
        """Every sparse layer back to its dense kernel (zeros where pruned).

        The optimizer's slots are expanded likewise. Does nothing when no
        layer is sparse.
        """
        self._planned = None
        model = self.model
        if model is None:
            return
        optimizer = getattr(model, "optimizer", None)
        for name in list(self._entries):
            self._release(name, optimizer)
        if optimizer is not None:
            optimizer.build(model.weights())
        self.model = None

    # ------------------------------------------------------------------ internals
    def _install(
        self,
        model: Any,
        name: str,
        mask: np.ndarray,
        plan: LayerTrainingPlan,
        optimizer: Any,
        dense_layers: dict[str, tuple[Dense, bool]],
        batch: int,
    ) -> None:
        layer = dense_layers[name][0]
        pattern = self._pattern(name, mask)
        kernel = layer.params["kernel"]
        op = SparseKernel(pattern, plan, kernel.dtype)
        pos = pattern.positions()
        theta = pattern.gather(kernel, pos)
        slots = getattr(optimizer, "state", {}).get(name, {})
        for slot, a in list(slots.items()):
            slots[slot] = pattern.gather(a, pos)
        layer.use_operator(op, theta)
        self._entries[name] = _Entry(layer, pattern, mask, op, batch)

    def _pattern(self, name: str, mask: np.ndarray) -> SparsityPattern:
        # The pattern of the last mask seen for `name`, kept across stop(): the
        # next fit with the same masks (the same read-only arrays of a Pruner)
        # installs without rebuilding the index arrays.
        cached = self._patterns.get(name)
        if cached is not None and cached[0] is mask:
            return cached[1]
        pattern = SparsityPattern(mask)
        self._patterns[name] = (mask, pattern)
        return pattern

    def _carry(
        self,
        name: str,
        mask: np.ndarray,
        plan: LayerTrainingPlan,
        optimizer: Any,
        batch: int,
    ) -> None:
        entry = self._entries[name]
        layer, old = entry.layer, entry.pattern
        pattern = self._pattern(name, mask)
        op = SparseKernel(pattern, plan, entry.op.dtype)
        theta = pattern.carry(layer.params["kernel"], old)
        slots = getattr(optimizer, "state", {}).get(name, {})
        for slot, a in list(slots.items()):
            slots[slot] = pattern.carry(a, old)
        layer.use_operator(op, theta)
        self._entries[name] = _Entry(layer, pattern, mask, op, batch)

    def _release(self, name: str, optimizer: Any) -> None:
        entry = self._entries.pop(name)
        layer, pattern = entry.layer, entry.pattern
        pos = pattern.positions()
        kernel = pattern.scatter(layer.params["kernel"], positions=pos)
        slots = getattr(optimizer, "state", {}).get(name, {})
        for slot, a in list(slots.items()):
            if a.shape == (pattern.nnz,):
                slots[slot] = pattern.scatter(a, positions=pos)
        layer.use_operator(None, kernel)

    def _plan(
        self,
        model: Any,
        name: str,
        mask: Any,
        B: int,
        optimizer: Any,
        dense_layers: dict[str, tuple[Dense, bool]],
        masked: set[str],
        steps: int,
    ) -> LayerTrainingPlan:
        found = dense_layers.get(name)
        if found is None:
            return LayerTrainingPlan(
                name, False, source="ineligible", reason="not a Dense kernel"
            )
        layer, first = found
        shape = (int(layer.n_in or 0), int(layer.n_out or 0))
        mask = np.asarray(mask)
        if mask.shape != shape or mask.dtype != np.bool_:
            return LayerTrainingPlan(
                name, False, source="ineligible", reason=f"mask of shape {mask.shape}"
            )
        if layer.operator is not None and name not in self._entries:
            return LayerTrainingPlan(
                name,
                False,
                source="ineligible",
                reason="the layer has another operator",
            )
        if type(optimizer) not in ELEMENTWISE_OPTIMIZERS:
            return LayerTrainingPlan(
                name,
                False,
                source="ineligible",
                reason=f"optimizer {type(optimizer).__name__} is not elementwise",
            )
        dtype = layer.params["kernel"].dtype
        if dtype not in (np.float32, np.float64):
            return LayerTrainingPlan(
                name, False, source="ineligible", reason=f"dtype {dtype}"
            )
        nnz = int(np.count_nonzero(mask))
        backends = self._backends()
        threads = self.threads
        if self.mode is not True and mask.size < MIN_SIZE:
            return LayerTrainingPlan(name, False, reason=_SMALL)
        if self.mode is True:
            return self._forced_plan(name, first, "forced")
        ctx = _LayerContext(
            shape,
            nnz,
            B,
            first,
            transpose_grad=not _next_dense_is_sparse(model, layer, masked),
            slots=len(getattr(optimizer, "slot_names", ())),
            steps=steps,
        )
        plan = _estimate_plan(name, ctx, backends, threads)
        if self.mode == "measure":
            key = (
                shape,
                nnz,
                B,
                first,
                ctx.transpose_grad,
                dtype.name,
                tuple(backends),
                threads,
            )
            cached = self._measured.get(key)
            if cached is None:
                cached = _measure_plan(name, ctx, backends, threads, dtype, mask)
                self._measured[key] = cached
            plan = replace(cached, name=name)
        return plan

    def _forced_plan(self, name: str, first: bool, source: str) -> LayerTrainingPlan:
        """Every product on the fastest sparse backend installed."""
        best = self._backends()[0]
        weight = best if best in ("numba", "numpy") else "numpy"
        return LayerTrainingPlan(
            name, True, best, "none" if first else best, weight, self.threads, source
        )

    def _backends(self) -> list[str]:
        if self.backend == "auto":
            return available_backends()
        return [self.backend]


def _ms(s: float) -> str:
    return "-" if math.isnan(s) else f"{s * 1e3:.3f} ms"


class _DenseWeights(Mapping[str, np.ndarray]):
    """``model.weights()`` with the sparse kernels expanded on access."""

    def __init__(self, engine: SparseTraining) -> None:
        self._engine = engine
        self._live: dict[str, np.ndarray] = (
            engine.model.weights() if engine.model is not None else {}
        )

    def __getitem__(self, name: str) -> np.ndarray:
        entry = self._engine._entries.get(name)
        if entry is not None:
            kernel: np.ndarray = entry.layer.param_value("kernel")
            return kernel
        return self._live[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._live)

    def __len__(self) -> int:
        return len(self._live)


# ------------------------------------------------------------------ planning
@dataclass(frozen=True)
class _LayerContext:
    shape: tuple[int, int]
    nnz: int
    batch: int
    first: bool
    transpose_grad: bool  # the output gradient arrives C-ordered
    slots: int  # optimizer slots per weight
    steps: int  # steps the masks are expected to stay fixed


def _dense_masked_seconds(ctx: _LayerContext, threads: int) -> float:
    """One dense-masked step of the layer: its products, optimizer, masking."""
    n = ctx.shape[0] * ctx.shape[1]
    t = sum(
        estimate_seconds(p, DENSE, ctx.shape, 0, ctx.batch, threads)
        for p in _products(ctx)
    )
    # masking: gradient, weight and every slot, once each per step
    return t + n * (OPTIMIZER_S + MASK_S * (2 + ctx.slots))


def _products(ctx: _LayerContext) -> tuple[str, ...]:
    return ("forward", "weight") if ctx.first else PRODUCTS


def _sparse_seconds(
    ctx: _LayerContext, choice: Mapping[str, str], threads: int
) -> float:
    """One step of the layer on the plan `choice` (product -> backend)."""
    n_in, n_out = ctx.shape
    B = ctx.batch
    t = sum(
        estimate_seconds(p, choice[p], ctx.shape, ctx.nnz, B, threads)
        for p in _products(ctx)
    )
    if ctx.first and (choice["forward"] != DENSE or choice["weight"] != DENSE):
        t += B * n_in * TRANSPOSE_S  # the data batch arrives C-ordered
    grad_sparse = choice["weight"] != DENSE or (
        not ctx.first and choice["input"] != DENSE
    )
    if ctx.transpose_grad and grad_sparse:
        t += B * n_out * TRANSPOSE_S
    # the conversions (in, and out again), spread over the steps they serve
    n = n_in * n_out
    convert = (n * CONVERT_S + ctx.nnz * CONVERT_NNZ_S) * (2 + ctx.slots)
    return t + ctx.nnz * OPTIMIZER_S + convert / ctx.steps


def _choose(ctx: _LayerContext, backends: list[str], threads: int) -> dict[str, str]:
    """Each product's option: a sparse backend if clearly faster than dense."""
    choice: dict[str, str] = {}
    for p in _products(ctx):
        est = functools.partial(estimate_seconds, p, shape=ctx.shape, nnz=ctx.nnz)
        best, best_t = DENSE, PRODUCT_MARGIN * est(DENSE, batch_size=ctx.batch)
        for b in backends:
            t = est(b, batch_size=ctx.batch, threads=threads)
            if t < best_t:
                best, best_t = b, t
        choice[p] = best
    if ctx.first:
        choice["input"] = "none"
    return choice


def _mixed(choice: Mapping[str, str]) -> bool:
    kinds = {c == DENSE for c in choice.values() if c != "none"}
    return len(kinds) == 2


def _estimate_plan(
    name: str, ctx: _LayerContext, backends: list[str], threads: int
) -> LayerTrainingPlan:
    choice = _choose(ctx, backends, threads)
    if threads > 1 and _mixed(choice):
        # BLAS's worker threads spin for a while after each call and starve a
        # second thread of the sparse products that follow: with dense
        # products in the step, the sparse ones run on one thread.
        threads = 1
        choice = _choose(ctx, backends, threads)
    t_sparse = _sparse_seconds(ctx, choice, threads)
    t_dense = _dense_masked_seconds(ctx, threads)
    sparse = t_sparse < MARGIN * t_dense
    return LayerTrainingPlan(
        name,
        sparse,
        choice["forward"],
        choice["input"],
        choice["weight"],
        threads,
        "estimate",
        t_sparse,
        t_dense,
        "" if sparse else "estimated no faster than dense-masked",
    )


def _time_ops(ops: Mapping[str, Callable[[], None]], budget: float) -> dict[str, float]:
    """Median seconds of each op, timed interleaved (warmed up once)."""
    first: dict[str, float] = {}
    for key, op in ops.items():
        op()
        t0 = time.perf_counter()
        op()
        first[key] = max(time.perf_counter() - t0, 1e-9)
    fastest = min(first.values(), default=1.0)
    keep = [k for k in ops if first[k] <= 4 * fastest]
    round_s = sum(first[k] for k in keep)
    rounds = max(3, min(9, int(budget / max(round_s, 1e-9))))
    samples: dict[str, list[float]] = {k: [] for k in keep}
    order = list(keep)
    rnd = random.Random(0)
    for _ in range(rounds):
        rnd.shuffle(order)
        for k in order:
            t0 = time.perf_counter()
            ops[k]()
            samples[k].append(time.perf_counter() - t0)
    out = dict(first)
    out.update({k: float(np.median(s)) for k, s in samples.items()})
    return out


def _measure_plan(
    name: str,
    ctx: _LayerContext,
    backends: list[str],
    threads: int,
    dtype: np.dtype[Any],
    mask: np.ndarray,
) -> LayerTrainingPlan:
    """Time every product's candidates on the layer's pattern at its batch size."""
    n_in, n_out = ctx.shape
    B = ctx.batch
    rng = np.random.default_rng(0)
    pattern = SparsityPattern(mask)
    theta = rng.standard_normal(pattern.nnz).astype(dtype)
    x = np.asfortranarray(rng.standard_normal((B, n_in)).astype(dtype))
    g = np.asfortranarray(rng.standard_normal((B, n_out)).astype(dtype))
    out = np.empty(pattern.nnz, dtype=dtype)
    choice: dict[str, str] = {}
    measured: dict[str, float] = {}
    for p in _products(ctx):
        limit = _PRUNE_FACTOR * estimate_seconds(
            p, DENSE, ctx.shape, ctx.nnz, B, threads
        )
        ops: dict[str, Callable[[], None]] = {}
        for b in [DENSE, *backends]:
            if (
                b != DENSE
                and estimate_seconds(p, b, ctx.shape, ctx.nnz, B, threads) > limit
            ):
                continue
            op = SparseKernel(
                pattern, LayerTrainingPlan(name, True, b, b, b, threads), dtype
            )
            if p == "forward":
                ops[b] = lambda op=op: op.matmul(x, theta)  # type: ignore[misc]
            elif p == "input":
                ops[b] = lambda op=op: op.input_grad(g, theta)  # type: ignore[misc]
            else:
                ops[b] = lambda op=op: op.kernel_grad(x, g, theta, out)  # type: ignore[misc]
        times = _time_ops(ops, _MEASURE_BUDGET)
        # dense on ties within 2 %
        best = min(times, key=lambda b: times[b] * (1.0 if b == DENSE else 1.02))
        choice[p], measured[p] = best, times[best]
        measured[p + "/dense"] = times[DENSE]
    if ctx.first:
        choice["input"] = "none"
    # The measured products, plus the modelled rest (transposes, optimizer).
    modelled = _sparse_seconds(ctx, choice, threads) - sum(
        estimate_seconds(p, choice[p], ctx.shape, ctx.nnz, B, threads)
        for p in _products(ctx)
    )
    t_sparse = modelled + sum(measured[p] for p in _products(ctx))
    t_dense = (
        _dense_masked_seconds(ctx, threads)
        - sum(
            estimate_seconds(p, DENSE, ctx.shape, 0, B, threads) for p in _products(ctx)
        )
        + sum(measured[p + "/dense"] for p in _products(ctx))
    )
    sparse = t_sparse < MARGIN * t_dense
    return LayerTrainingPlan(
        name,
        sparse,
        choice["forward"],
        choice["input"],
        choice["weight"],
        threads,
        "measure",
        t_sparse,
        t_dense,
        "" if sparse else "measured no faster than dense-masked",
    )
