"""Pruning while training: the ArrayPruner engine and the Pruner callback on it.

:class:`ArrayPruner` is the engine. It holds the schedule, the criterion, the
step and the masks, and works on any mapping of names to arrays, so any
training loop can drive it (NumPy, PyTorch CPU tensors through zero-copy
views, JAX through :meth:`ArrayPruner.apply`)::

    eng = ArrayPruner(schedule)
    for x, y in batches:                      # a PyTorch loop, for example
        loss = loss_fn(model(x), y); opt.zero_grad(); loss.backward(); opt.step()
        eng.step(dict(model.named_parameters()))   # after the optimizer step

:class:`Pruner` is the same engine as a callback of ``Sequential.fit``. One
training step inside ``fit`` (see :mod:`sparsecore.nn.callbacks`)::

    on_train_batch_begin     the engine's step: step += 1; if the schedule says
                             so, recompute the masks from the current weights;
                             apply the masks
    forward, loss, backward
    on_before_optimizer_step zero the gradients of pruned weights     (strict)
    optimizer step
    on_after_optimizer_step  re-mask the weights and zero the optimizer
                             state (momentum, Adam moments) there     (strict)

The k-th call of the engine's step (the k-th training batch, counted over
all epochs and ``fit`` calls) is step k; step 0 is never a training step;
``predict``/``evaluate`` call no callbacks, so inference changes neither step
nor mask. Exactly tfmot's placement: its pruning wrapper advances the step,
updates the masks and masks the weights at the start of each training batch.

The per-step work multiplies in place by a cached mask of the weight's dtype
(:class:`MaskSet`): it allocates nothing of parameter size. While the masks
stay fixed, the Pruner trains the masked Dense layers on sparse kernels
instead, where that is faster (``sparse_training``, see
:mod:`sparsecore.prune.sparse_training`): those layers hold only their kept
values and need no masking at all. The masks are
computed by :func:`compute_masks` (which dispatches to the criteria of
:mod:`sparsecore.prune.criteria`); which weights are pruned is
:func:`sparsecore.prune.policy.select_weights`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sparsecore._checks import (
    is_int,
    validate_bool,
    validate_choice,
    validate_seed,
    validate_type,
)
from sparsecore.nn.callbacks import Callback
from sparsecore.prune.criteria import (
    Mask,
    global_magnitude_masks,
    global_random_masks,
    magnitude_mask,
    nm_mask,
    random_mask,
    random_structured_mask,
    structured_mask,
    validate_block,
    validate_norm,
)
from sparsecore.prune.policy import (
    PruningPolicy,
    policy_from_config,
    select_weights,
    validate_names,
    validate_patterns,
)
from sparsecore.prune.schedules import (
    PruningSchedule,
    schedule_from_config,
    warn_schedule_coverage,
)
from sparsecore.prune.sparse_training import SparseTraining, validate_mode

__all__ = [
    "ALL_CRITERIA",
    "CRITERIA",
    "MAX_STEP",
    "SCOPES",
    "ArrayPruner",
    "MaskSet",
    "Pruner",
    "as_array_view",
    "compute_masks",
    "is_pruned",
    "remove",
    "strip_pruning",
]

#: The schedule-driven criteria other code offers as choices (the experiment,
#: the CLI).
CRITERIA = ("magnitude", "nm", "random", "structured")
#: Every criterion a :class:`Pruner` or :class:`ArrayPruner` accepts.
ALL_CRITERIA = (*CRITERIA, "random_structured")
#: ``"layer"``: every weight array pruned to the schedule's sparsity;
#: ``"global"``: one ranking over all of them.
SCOPES = ("global", "layer")
#: The largest step a pruner's state may hold (schedules compute in int64).
MAX_STEP = 2**62

_RANDOM = ("random", "random_structured")


# --------------------------------------------------------------------- arrays
def as_array_view(x: Any, name: str = "array") -> NDArray[Any]:
    """`x` as a writable NumPy array sharing its memory (never a copy).

    Accepted: NumPy arrays; objects with ``__dlpack__`` (PyTorch CPU tensors,
    detached first when they require grad: a view, not a copy); objects with
    the buffer protocol (``array.array``, ``bytearray``, ...); objects whose
    ``__array__`` returns a view.

    Raises
    ------
    TypeError
        If `x` cannot be viewed without a copy (a GPU tensor, a dtype NumPy
        lacks such as bfloat16) or the view is read-only (a JAX array): use
        :meth:`ArrayPruner.apply`, which returns new arrays, instead.
    """
    if isinstance(x, np.ndarray):
        arr = x
    elif hasattr(x, "__dlpack__"):
        detach = getattr(x, "detach", None)
        if callable(detach):  # torch: exporting a tensor that requires grad fails
            x = detach()
        try:
            arr = np.from_dlpack(x)
        except (BufferError, RuntimeError, TypeError, ValueError) as e:
            raise TypeError(
                f"{name} cannot be viewed as a NumPy array without a copy "
                f"({type(e).__name__}: {e}); only CPU arrays of NumPy dtypes "
                "can be pruned in place: use ArrayPruner.apply for new arrays"
            ) from None
    else:
        try:
            arr = np.asarray(memoryview(x))
        except TypeError:
            if not hasattr(x, "__array__"):
                raise TypeError(
                    f"{name} must be an array (NumPy, or with __dlpack__, the "
                    f"buffer protocol or __array__); got {type(x).__name__}"
                ) from None
            arr = np.asarray(x)
    if not arr.flags.writeable:
        raise TypeError(
            f"{name} is read-only ({type(x).__name__}); pruning in place needs "
            "writable arrays: use ArrayPruner.apply, which returns new arrays"
        )
    return arr


def _is_kernel(name: str, a: Any) -> bool:
    """The Pruner's default: a model's ``"<layer>/kernel"`` arrays."""
    return name.endswith("/kernel")


def _is_matrix(name: str, a: Any) -> bool:
    """The ArrayPruner's default: floating-point arrays of rank >= 2."""
    return isinstance(a, np.ndarray) and a.ndim >= 2 and a.dtype.kind == "f"


def _validate_fixed_masks(masks: Any) -> dict[str, Mask]:
    """Masks given by the user: bool arrays, or real arrays of 0 and 1 only."""
    if not isinstance(masks, Mapping) or not masks:
        raise TypeError(
            f"masks must be a non-empty dict of str to bool arrays; got {masks!r}"
        )
    out = {}
    for name, m in masks.items():
        if not isinstance(name, str):
            raise TypeError(f"masks keys must be str; got {name!r}")
        arr = np.asarray(m)
        if arr.dtype != np.bool_:
            if arr.dtype.kind not in "iuf":
                raise TypeError(
                    f"masks[{name!r}] must be a bool array (or 0/1 numbers); "
                    f"got dtype {arr.dtype}"
                )
            if not np.isin(arr, (0, 1)).all():
                raise ValueError(
                    f"masks[{name!r}] must hold only 0 (pruned) and 1 (kept)"
                )
            arr = arr != 0
        out[name] = arr
    return out


# --------------------------------------------------------------------- masks
def compute_masks(
    weights: Mapping[str, NDArray[Any]],
    sparsity: float,
    *,
    criterion: str,
    scope: str,
    prev: Mapping[str, Mask] | None,
    block_size: tuple[int, int],
    block_pooling: str,
    nm: tuple[int, int],
    axis: int,
    norm: float,
    seed: tuple[int, int],
    scores: Mapping[str, Any] | None = None,
    of_remaining: bool = False,
) -> dict[str, Mask]:
    """New masks for `weights` at `sparsity`, as a pruner set up so.

    Parameters
    ----------
    weights : dict of str to ndarray
        The weights to prune, by name.
    sparsity : float
        The schedule's sparsity (ignored by ``criterion='nm'``).
    criterion, scope, block_size, block_pooling, nm, axis, norm
        As :class:`~sparsecore.prune.Pruner`.
    prev : dict of str to bool ndarray, optional
        The current masks: each new mask is ranked among the entries they
        keep (strict mode; old zeros stay zero). None ranks from scratch.
    seed : tuple (seed, step)
        Seeds the generator of the random criteria.
    scores : dict of str to ndarray, optional
        Per weight (any subset), ranked instead of the weight (magnitude,
        structured and N:M criteria).
    of_remaining : bool, default=False
        Take `sparsity` of what `prev` keeps instead of the whole array.

    Returns
    -------
    dict of str to bool ndarray
        Same names and shapes as `weights` (True = kept).
    """
    scores = dict(scores or {})
    if scores and criterion in _RANDOM:
        raise ValueError(f"scores do not apply to criterion={criterion!r}")

    def p(n: str) -> Mask | None:
        return None if prev is None else prev[n]

    if criterion == "nm":
        n_zeros, group = nm
        return {
            n: nm_mask(
                a, n_zeros, group, axis=axis, scores=scores.get(n), prev_mask=p(n)
            )
            for n, a in weights.items()
        }
    if criterion == "magnitude" and scope == "global":
        return global_magnitude_masks(
            weights,
            sparsity,
            scores=scores or None,
            block_size=block_size,
            block_pooling=block_pooling,
            prev_masks=prev,
            of_remaining=of_remaining,
        )
    if criterion == "magnitude":
        return {
            n: magnitude_mask(
                a,
                sparsity,
                scores=scores.get(n),
                block_size=block_size,
                block_pooling=block_pooling,
                prev_mask=p(n),
                of_remaining=of_remaining,
            )
            for n, a in weights.items()
        }
    if criterion == "structured":
        return {
            n: structured_mask(
                a,
                sparsity,
                axis=axis,
                norm=norm,
                scores=scores.get(n),
                prev_mask=p(n),
                of_remaining=of_remaining,
            )
            for n, a in weights.items()
        }
    rng = np.random.default_rng(seed)
    if criterion == "random_structured":
        return {
            n: random_structured_mask(
                a, sparsity, rng, axis=axis, prev_mask=p(n), of_remaining=of_remaining
            )
            for n, a in weights.items()
        }
    if scope == "global":
        return global_random_masks(
            weights, sparsity, rng, prev_masks=prev, of_remaining=of_remaining
        )
    return {
        n: random_mask(a, sparsity, rng, prev_mask=p(n), of_remaining=of_remaining)
        for n, a in weights.items()
    }


class MaskSet:
    """A mask per weight name, applied in place without allocating.

    Parameters
    ----------
    masks : dict of str to bool ndarray, optional
        Copied, as read-only bool arrays.

    Attributes
    ----------
    masks : dict of str to bool ndarray
        The masks (True = kept); read-only arrays.
    sparsity : float
        Fraction of the masks' entries that they prune.
    """

    def __init__(self, masks: Mapping[str, Any] | None = None) -> None:
        self.masks: dict[str, Mask] = {}
        # Per pruned weight (those whose mask prunes something): the mask as
        # 0/1 in each dtype seen, for in-place multiplication.
        self._factors: dict[str, dict[np.dtype[Any], NDArray[Any]]] = {}
        self._kept: dict[str, int] = {}
        self._n_kept = self._n_total = 0
        for name, m in (masks or {}).items():
            m = np.array(m, dtype=bool, copy=True)
            m.setflags(write=False)
            self.masks[name] = m
            kept = self._kept[name] = int(np.count_nonzero(m))
            self._n_kept += kept
            self._n_total += m.size
            if kept < m.size:
                self._factors[name] = {}

    @property
    def sparsity(self) -> float:
        """Fraction of the masks' entries that they prune (0.0 without masks)."""
        return 1.0 - self._n_kept / self._n_total if self._n_total else 0.0

    def sparsity_of(self, name: str) -> float:
        """Fraction of the entries of mask `name` that it prunes."""
        size = self.masks[name].size
        return 1.0 - self._kept[name] / size if size else 0.0

    def _factor(self, name: str, dtype: np.dtype[Any]) -> NDArray[Any]:
        by_dtype = self._factors[name]
        f = by_dtype.get(dtype)
        if f is None:
            f = by_dtype[dtype] = self.masks[name].astype(dtype)
        return f

    def _apply_one(self, name: str, a: Any) -> None:
        if isinstance(a, np.ndarray) and a.shape == self.masks[name].shape:
            np.multiply(a, self._factor(name, a.dtype), out=a)

    def apply(self, arrays: Mapping[str, Any]) -> None:
        """Multiply each pruned array by its mask. This is an *in place* operation.

        Names without a mask, and arrays of another shape, are left alone.
        """
        for name in self._factors:
            self._apply_one(name, arrays.get(name))

    def apply_to_optimizer_state(self, optimizer: Any) -> None:
        """Zero every slot array of `optimizer` at pruned positions, in place."""
        state = getattr(optimizer, "state", None)
        if not state:
            return
        for name in self._factors:
            for a in state.get(name, {}).values():
                self._apply_one(name, a)


# --------------------------------------------------------------------- state
def _state_step(step: Any) -> int:
    if isinstance(step, np.ndarray) and step.shape == ():
        step = step[()]
    if not is_int(step) or not 0 <= step <= MAX_STEP:
        raise ValueError(f"state['step'] must be an int in [0, 2**62]; got {step!r}")
    return int(step)


def _validate_state(
    state: Any,
) -> tuple[Mapping[str, Any], int, bool, dict[str, NDArray[Any]]]:
    """Check a state dict's fields; return (config, step, nm_applied, masks)."""
    keys = {"config", "step", "masks"}
    if not isinstance(state, Mapping) or not keys <= set(state):
        raise ValueError(
            "state must be a dict with keys 'config', 'step' and 'masks' "
            "(and optionally 'nm_applied')"
        )
    config = state["config"]
    if not isinstance(config, Mapping):
        raise ValueError(f"state['config'] must be a dict; got {config!r:.80}")
    step = _state_step(state["step"])
    nm_applied = state.get("nm_applied", False)
    if isinstance(nm_applied, np.ndarray) and nm_applied.shape == ():
        nm_applied = nm_applied[()]
    if not isinstance(nm_applied, (bool, np.bool_)):
        raise ValueError(f"state['nm_applied'] must be a bool; got {nm_applied!r:.80}")
    masks = state["masks"]
    if not isinstance(masks, Mapping):
        raise ValueError(f"state['masks'] must be a dict of arrays; got {masks!r:.80}")
    out = {}
    for name, m in masks.items():
        if not isinstance(name, str):
            raise ValueError(f"state['masks'] keys must be str; got {name!r:.80}")
        arr = np.asarray(m)
        if arr.dtype != np.bool_:
            raise ValueError(
                f"state['masks'][{name!r}] must be a bool array; got dtype {arr.dtype}"
            )
        out[name] = arr
    return config, step, bool(nm_applied), out


def _norm_to_json(norm: float) -> float | str:
    return "inf" if isinstance(norm, float) and math.isinf(norm) else norm


def _norm_from_json(norm: Any) -> Any:
    return math.inf if norm == "inf" else norm


# --------------------------------------------------------------------- engine
class ArrayPruner:
    """The pruning engine: schedule, criterion, step and masks over named arrays.

    Call :meth:`step` once per training step of any framework's loop; it
    prunes the arrays in place, as :class:`Pruner` does inside ``fit`` (the
    same code: :class:`Pruner` is this engine as a callback).

    Parameters
    ----------
    schedule : PruningSchedule, optional
        When to prune and to which sparsity (:class:`PolynomialDecay`,
        :class:`ConstantSparsity`). Omit it, and give `masks`, for fixed masks.
    criterion : {'magnitude', 'structured', 'random', 'random_structured', 'nm'}
        As :class:`Pruner`; default 'magnitude'.
    scope : {'layer', 'global'}, default='layer'
        As :class:`Pruner`.
    names : list of str, optional
        The arrays to prune; default every floating-point array of rank >= 2
        (so a PyTorch model's weights, not its biases).
    masks : dict of str to bool ndarray, optional
        Without a schedule: fixed masks, applied at every step and never
        recomputed (torch's ``custom_from_mask``; lottery tickets, sparse
        training). With a schedule: the starting masks (pruning continues
        inside them). 0/1 numbers are accepted too.
    include, exclude : list of str, optional
        Glob patterns over the candidate names (:mod:`~sparsecore.prune.policy`).
    prune_biases : bool, default=False
        Biases (names whose last part starts with "bias") may be pruned too.
    policy : PruningPolicy, optional
        E.g. :class:`~sparsecore.prune.KeepDense`: leave the first and last
        layer dense.
    block_size, block_pooling, nm, axis, norm, seed
        As :class:`Pruner`. Note ``axis`` is in the arrays' own layout: for a
        PyTorch ``Linear.weight`` ``(out, in)``, ``criterion='structured',
        axis=0`` removes output neurons and ``'nm', axis=1`` groups along the
        inputs.
    nested : bool, default=True
        Each new mask is ranked among the weights the current one keeps, so
        under a non-decreasing schedule old zeros stay zero (strict). False
        re-ranks from scratch at every pruning step (tfmot; pruned weights
        can come back).

    Attributes
    ----------
    pruning_step : int
        Steps taken so far (tfmot's ``pruning_step``; 0 before the first).
    masks : dict of str to bool ndarray
        Current mask per pruned array (read-only arrays); empty until the
        first step chooses the arrays (unless `masks` were given).
    sparsity : float
        Fraction of the pruned arrays' entries that the masks prune.

    Notes
    -----
    The k-th call of :meth:`step` is step k: if ``schedule(k)`` says so, the
    masks are recomputed from the arrays as passed (for magnitude, the ``k``
    largest ``|w|`` with ``k = max(1, round_half_even(f32(n) (1 - f32(s))))``,
    tfmot's rule), and the pruned entries are zeroed. Called after each
    optimizer step, the mask of step k is chosen from the weights the k-th
    update produced and holds from the (k+1)-th forward pass on; :class:`Pruner`
    calls it before each forward pass instead, as tfmot. Either way, after the
    last step the arrays are exactly at the schedule's final sparsity.

    Examples
    --------
    >>> import numpy as np, sparsecore as sc
    >>> eng = sc.prune.ArrayPruner(sc.ConstantSparsity(0.5, begin_step=1, frequency=1))
    >>> w = {"w": np.arange(1.0, 9.0).reshape(2, 4)}
    >>> int(eng.step(w)["w"].sum()), w["w"]
    (4, array([[0., 0., 0., 0.],
           [5., 6., 7., 8.]]))
    """

    def __init__(
        self,
        schedule: PruningSchedule | None = None,
        criterion: str = "magnitude",
        scope: str = "layer",
        names: Sequence[str] | None = None,
        *,
        masks: Mapping[str, Any] | None = None,
        include: Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
        prune_biases: bool = False,
        policy: PruningPolicy | None = None,
        block_size: tuple[int, int] = (1, 1),
        block_pooling: str = "avg",
        nm: tuple[int, int] = (2, 4),
        axis: int | None = None,
        norm: float = 1,
        seed: int | None = None,
        nested: bool = True,
    ) -> None:
        if schedule is not None:
            validate_type("schedule", schedule, PruningSchedule, "a PruningSchedule")
        elif masks is None:
            raise TypeError(
                "schedule must be a PruningSchedule (or give masks={name: bool "
                "array} for fixed masks); got None"
            )
        self.schedule = schedule
        self.criterion = validate_choice("criterion", criterion, ALL_CRITERIA)
        self.scope = validate_choice("scope", scope, SCOPES)
        if scope == "global" and criterion not in ("magnitude", "random"):
            raise ValueError(
                f"scope='global' needs criterion 'magnitude' or 'random'; "
                f"got criterion={criterion!r}"
            )
        names = validate_names("names", names)
        self.include = validate_patterns("include", include)
        self.exclude = validate_patterns("exclude", exclude)
        self.prune_biases = validate_bool("prune_biases", prune_biases)
        if policy is not None:
            validate_type("policy", policy, PruningPolicy, "a PruningPolicy")
        self.policy = policy
        block, pooling = validate_block(block_size, block_pooling)
        if block != (1, 1) and criterion != "magnitude":
            raise ValueError(
                f"block_size must be (1, 1) unless criterion='magnitude'; "
                f"got {block_size!r} with criterion={criterion!r}"
            )
        self.block_size, self.block_pooling = block, pooling
        if not (
            isinstance(nm, Sequence)
            and len(nm) == 2
            and all(is_int(v) for v in nm)
            and 0 <= nm[0] < nm[1]
        ):
            raise ValueError(
                f"nm must be a pair (n_zeros, group) of ints with "
                f"0 <= n_zeros < group; got {nm!r}"
            )
        self.nm = (int(nm[0]), int(nm[1]))
        if axis is None:
            axis = 0 if criterion == "nm" else 1
        if not is_int(axis):
            raise TypeError(f"axis must be an int or None; got {axis!r}")
        self.axis = int(axis)
        self.norm = validate_norm(norm)
        fixed = None
        if masks is not None:
            fixed = _validate_fixed_masks(masks)
            if names is not None and set(names) != set(fixed):
                raise ValueError(
                    f"names must be those of masks {sorted(fixed)}; got {names!r}"
                )
            if include is not None or exclude is not None or policy is not None:
                raise ValueError(
                    "masks name the arrays they prune: include, exclude and "
                    "policy do not apply with masks"
                )
            names = list(fixed)
            if schedule is None and (
                criterion != "magnitude" or scope != "layer" or block != (1, 1)
            ):
                raise ValueError(
                    "masks without a schedule are fixed: nothing is ranked, so "
                    "criterion, scope and block_size do not apply"
                )
        self.names = names
        if seed is None and criterion in _RANDOM and schedule is not None:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1)
        self.seed = validate_seed("seed", seed)
        self.nested = validate_bool("nested", nested)

        self.pruning_step = 0
        self._nm_applied = False
        self._maskset = MaskSet(fixed)
        self._bound: list[str] | None = None
        self._removed = False
        # The default rule and how messages name things; the Pruner sets its own.
        self._arg, self._where, self._default = "names", "params", _is_matrix
        self._default_text = "no floating-point array of rank >= 2"

    # ------------------------------------------------------------------ views
    @property
    def fixed(self) -> bool:
        """Whether the masks are fixed (no schedule)."""
        return self.schedule is None

    @property
    def masks(self) -> dict[str, Mask]:
        """Current mask per pruned array name (read-only arrays)."""
        return dict(self._maskset.masks)

    @property
    def sparsity(self) -> float:
        """Fraction of the pruned arrays' entries that the masks prune."""
        return self._maskset.sparsity

    def summary(self) -> dict[str, float]:
        """What to log at this step (tfmot's PruningSummaries, as a dict).

        Returns
        -------
        dict of str to float
            ``"step"``, ``"sparsity"`` (over the pruned arrays), with a
            schedule ``"target_sparsity"`` (the schedule's value at this step),
            and ``"<name>/sparsity"`` per pruned array (``1 - mean(mask)``).
        """
        out: dict[str, float] = {
            "step": float(self.pruning_step),
            "sparsity": self.sparsity,
        }
        if self.schedule is not None:
            out["target_sparsity"] = float(self.schedule(self.pruning_step)[1])
        for name in self._maskset.masks:
            out[f"{name}/sparsity"] = self._maskset.sparsity_of(name)
        return out

    def __repr__(self) -> str:
        if self.schedule is None:
            names = list(self._maskset.masks)
            return f"ArrayPruner(masks={names}, step={self.pruning_step})"
        return (
            f"ArrayPruner({self.schedule!r}, criterion={self.criterion!r}, "
            f"scope={self.scope!r}, step={self.pruning_step})"
        )

    # ------------------------------------------------------------------ binding
    def _check_shape(self, name: str, shape: tuple[int, ...]) -> None:
        if self.block_size != (1, 1) and len(shape) != 2:
            raise ValueError(
                f"block_size {self.block_size} needs rank-2 weights; "
                f"{name!r} has shape {shape}"
            )
        if self.criterion in ("nm", "structured", "random_structured"):
            ndim = max(len(shape), 1)
            if not -ndim <= self.axis < ndim:
                raise IndexError(
                    f"axis must be an int in [{-ndim}, {ndim}) for "
                    f"{name!r} of shape {shape}; got {self.axis!r}"
                )

    def _bind(self, arrays: Mapping[str, Any]) -> list[str]:
        """Choose the pruned names among `arrays`, check them, start the masks.

        `arrays` maps names to NumPy arrays (entries that are not, such as
        arrays of a dtype NumPy lacks, are never chosen by default).
        """
        if self._removed:
            raise RuntimeError(
                "this pruner's masks were all removed; create a new one to prune again"
            )
        masks = self._maskset.masks
        names = select_weights(
            arrays,
            names=self.names,
            include=self.include,
            exclude=self.exclude,
            prune_biases=self.prune_biases or bool(masks and self.fixed),
            policy=self.policy,
            default=self._default,
            arg=self._arg,
            where=self._where,
        )
        if not names:
            raise ValueError(self._nothing_to_prune(arrays))
        shapes = {n: tuple(np.shape(arrays[n])) for n in names}
        if masks:
            if set(masks) != set(names):
                raise ValueError(
                    f"the masks are for weights {sorted(masks)} but "
                    f"{self._where} prunes {sorted(names)}"
                )
            for name in names:
                if masks[name].shape != shapes[name]:
                    raise ValueError(
                        f"masks[{name!r}] has shape {masks[name].shape} but the "
                        f"weight has shape {shapes[name]}"
                    )
        for name in names:
            self._check_shape(name, shapes[name])
        if not masks:
            self._maskset = MaskSet(
                {n: np.ones(s, dtype=bool) for n, s in shapes.items()}
            )
        else:  # the masks' order is the arrays' order, as a fresh bind gives
            self._maskset = MaskSet({n: masks[n] for n in names})
        self._bound = names
        return names

    def _nothing_to_prune(self, arrays: Mapping[str, Any]) -> str:
        return (
            f"{self._where} has {self._default_text} to prune; "
            f"pass {self._arg}=[...] from {sorted(arrays)}"
        )

    def _views(self, params: Any, what: str) -> dict[str, NDArray[Any]]:
        """Zero-copy views of the pruned arrays of `params` (binding at first use)."""
        if not isinstance(params, Mapping):
            raise TypeError(
                f"{what} must be a dict of names to arrays; got {type(params).__name__}"
            )
        if self._bound is None:
            candidates = {}
            for name, x in params.items():
                try:
                    candidates[name] = as_array_view(x, f"{what}[{name!r}]")
                except TypeError:  # not prunable in place; never chosen by default
                    candidates[name] = x
            self._bind(candidates)
        assert self._bound is not None
        views = {}
        for name in self._bound:
            if name not in params:
                raise ValueError(
                    f"{what} must hold every pruned array {self._bound}; "
                    f"{name!r} is missing"
                )
            x = params[name]
            if x is None and what == "grads":  # torch: a parameter without a grad
                continue
            a = as_array_view(x, f"{what}[{name!r}]")
            if a.shape != self._maskset.masks[name].shape:
                raise ValueError(
                    f"{what}[{name!r}] has shape {a.shape} but its mask has shape "
                    f"{self._maskset.masks[name].shape}"
                )
            views[name] = a
        return views

    # ------------------------------------------------------------------ step
    def _advance(
        self, weights: Mapping[str, Any], scores: Mapping[str, Any] | None = None
    ) -> bool:
        """Step += 1; recompute the masks from `weights` if due. Return whether.

        Nothing changes if the computation fails (as torch's rollback): the
        step and the masks are only updated once the new masks exist.
        """
        if self.pruning_step >= MAX_STEP:
            raise ValueError(f"the step cannot exceed 2**62; it is {self.pruning_step}")
        step = self.pruning_step + 1
        new = None
        if self.schedule is not None and self.criterion == "nm":
            if not self._nm_applied and step >= max(self.schedule.begin_step, 1):
                new = self._compute(weights, 0.0, scores, step)
        elif self.schedule is not None:
            should_prune, _ = self.schedule(step)
            if should_prune:
                # tfmot's float32 sparsity, so that k is tfmot's k bit for bit.
                sparsity = self.schedule.sparsity_float32(step)
                new = self._compute(weights, sparsity, scores, step)
        self.pruning_step = step
        if new is None:
            return False
        self._set_masks(new)
        self._nm_applied = self._nm_applied or self.criterion == "nm"
        return True

    def _compute(
        self,
        weights: Mapping[str, Any],
        sparsity: float,
        scores: Mapping[str, Any] | None,
        step: int,
    ) -> dict[str, Mask]:
        masks = self._maskset.masks
        if scores is not None:
            if not isinstance(scores, Mapping) or not set(scores) <= set(masks):
                raise ValueError(
                    f"scores must be a dict with keys among the pruned arrays "
                    f"{list(masks)}; got {scores!r:.80}"
                )
        return compute_masks(
            {n: weights[n] for n in masks},
            sparsity,
            criterion=self.criterion,
            scope=self.scope,
            prev=masks if self.nested else None,
            block_size=self.block_size,
            block_pooling=self.block_pooling,
            nm=self.nm,
            axis=self.axis,
            norm=self.norm,
            seed=(self.seed or 0, step),
            scores=scores,
        )

    def _set_masks(self, masks: Mapping[str, Mask]) -> None:
        self._maskset = MaskSet(masks)

    def step(
        self,
        params: Mapping[str, Any],
        grads: Mapping[str, Any] | None = None,
        *,
        scores: Mapping[str, Any] | None = None,
    ) -> dict[str, Mask]:
        """Advance one training step and prune `params` (and `grads`) in place.

        Call it once per training step, after the optimizer step. It advances
        the step, recomputes the masks from `params` when the schedule says
        so, and zeroes the pruned entries of `params` (and of `grads`). This
        is an *in place* operation.

        Parameters
        ----------
        params : dict of str to array
            Every array by name (``dict(model.named_parameters())``,
            ``model.state_dict()``, a dict of NumPy arrays); see
            :func:`as_array_view` for what is accepted. The first call
            chooses the arrays to prune; later calls must hold them all.
        grads : dict of str to array, optional
            Zeroed at the pruned entries too (None values are skipped). To
            keep an optimizer's moments at zero as well (strict), call
            :meth:`zero_pruned` on the gradients before the optimizer step.
        scores : dict of str to ndarray, optional
            Ranked instead of the weights when the masks are recomputed at
            this step (any per-weight importance: ``|w * grad|``, ...).

        Returns
        -------
        dict of str to bool ndarray
            The current masks (True = kept).
        """
        views = self._views(params, "params")
        grad_views = None if grads is None else self._views(grads, "grads")
        self._advance(views, scores)
        self._maskset.apply(views)
        if grad_views:
            self._maskset.apply(grad_views)
        return self.masks

    def apply(
        self, params: Mapping[str, Any], *, scores: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The functional :meth:`step`: advance, and return new, pruned arrays.

        For immutable arrays (JAX): ``params = eng.apply(params)`` once per
        training step. Nothing passed in is modified.

        Returns
        -------
        dict
            Same keys as `params`; the pruned arrays as new NumPy arrays (of
            their dtype), the others passed through unchanged.
        """
        if not isinstance(params, Mapping):
            raise TypeError(
                f"params must be a dict of names to arrays; got {type(params).__name__}"
            )
        arrays = {n: np.asarray(x) for n, x in params.items()}
        if self._bound is None:
            self._bind(arrays)
        assert self._bound is not None
        for name in self._bound:
            if name not in arrays:
                raise ValueError(
                    f"params must hold every pruned array {self._bound}; "
                    f"{name!r} is missing"
                )
            if arrays[name].shape != self._maskset.masks[name].shape:
                raise ValueError(
                    f"params[{name!r}] has shape {arrays[name].shape} but its "
                    f"mask has shape {self._maskset.masks[name].shape}"
                )
        self._advance(arrays, scores)
        return self.mask(params)

    def mask(self, arrays: Mapping[str, Any]) -> dict[str, Any]:
        """New arrays with the pruned entries zeroed (the step does not advance).

        Names without a mask are passed through unchanged.
        """
        out = dict(arrays)
        for name, m in self._maskset.masks.items():
            if name in out and out[name] is not None:
                a = np.asarray(out[name])
                if a.shape != m.shape:
                    raise ValueError(
                        f"arrays[{name!r}] has shape {a.shape} but its mask has "
                        f"shape {m.shape}"
                    )
                out[name] = np.where(m, a, a.dtype.type(0))
        return out

    def zero_pruned(self, arrays: Mapping[str, Any]) -> None:
        """Zero the pruned entries of `arrays` in place (the step does not advance).

        For gradients before the optimizer step, optimizer moments, or any
        array shaped like a pruned one. Names without a mask are left alone.
        This is an *in place* operation.
        """
        views = {}
        for name, m in self._maskset.masks.items():
            x = arrays.get(name)
            if x is None:
                continue
            a = as_array_view(x, f"arrays[{name!r}]")
            if a.shape != m.shape:
                raise ValueError(
                    f"arrays[{name!r}] has shape {a.shape} but its mask has "
                    f"shape {m.shape}"
                )
            views[name] = a
        self._maskset.apply(views)

    def zero_optimizer_state(self, optimizer: Any) -> None:
        """Zero every slot of a sparsecore `optimizer` at pruned positions, in place.

        The moments of pruned weights stay exactly 0, so a weight never
        restarts with a stale momentum (what the Pruner does after every step).
        """
        self._maskset.apply_to_optimizer_state(optimizer)

    def remove(
        self, params: Mapping[str, Any] | None = None, name: str | None = None
    ) -> None:
        """Make the pruning of `name` (default: every array) permanent and stop.

        The pruned entries of `params` are zeroed in place (torch's
        ``prune.remove``); the mask is forgotten and the array is not pruned
        again. Once every mask is removed the pruner is spent.

        Raises
        ------
        ValueError
            If `name` is not pruned.
        """
        masks = self._maskset.masks
        names = list(masks) if name is None else [name]
        for n in names:
            if n not in masks:
                raise ValueError(
                    f"{n!r} is not pruned, so its pruning cannot be removed; "
                    f"pruned: {list(masks)}"
                )
        if params is not None:
            self.zero_pruned({n: params[n] for n in names if n in params})
        rest = {n: m for n, m in masks.items() if n not in names}
        self._maskset = MaskSet(rest)
        self.names = list(rest) or None
        self._bound = list(rest) if rest else None
        self._removed = not rest

    # ------------------------------------------------------------------ state
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-serialisable dict (masks excluded)."""
        return {
            "schedule": None if self.schedule is None else self.schedule.get_config(),
            "criterion": self.criterion,
            "scope": self.scope,
            "names": None if self.names is None else list(self.names),
            "include": self.include,
            "exclude": self.exclude,
            "prune_biases": self.prune_biases,
            "policy": None if self.policy is None else self.policy.get_config(),
            "block_size": list(self.block_size),
            "block_pooling": self.block_pooling,
            "nm": list(self.nm),
            "axis": self.axis,
            "norm": _norm_to_json(self.norm),
            "seed": self.seed,
            "nested": self.nested,
        }

    @classmethod
    def _from_config(
        cls, config: Mapping[str, Any], masks: Mapping[str, Any] | None = None
    ) -> ArrayPruner:
        schedule, kwargs = _config_args(config)
        return cls(schedule, masks=masks, **kwargs)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ArrayPruner:
        """A fresh engine (step 0, no masks) from :meth:`get_config` output.

        Raises
        ------
        ValueError
            For a fixed-mask config (its masks are in the state: use
            :meth:`from_state_dict`), or a malformed one.
        """
        if isinstance(config, Mapping) and config.get("schedule", 0) is None:
            raise ValueError(
                "a fixed-mask pruner's config holds no masks: rebuild it with "
                "from_state_dict"
            )
        return cls._from_config(config)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: config, step and masks.

        Returns
        -------
        dict
            ``{"config": dict (JSON-able), "step": int, "nm_applied": bool,
            "masks": {name: bool ndarray}}``; no objects to pickle.
        """
        return {
            "config": self.get_config(),
            "step": self.pruning_step,
            "nm_applied": self._nm_applied,
            "masks": {n: m.copy() for n, m in self._maskset.masks.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore config, step and masks from :meth:`state_dict` output.

        Raises
        ------
        ValueError
            If a field is malformed (step outside [0, 2**62], masks not bool,
            unknown keys, an invalid config).
        """
        config, step, nm_applied, masks = _validate_state(state)
        fresh = _rebuild(type(self)._from_config, config, masks)
        self.__dict__.update(fresh.__dict__)
        self._restore(step, nm_applied, masks)

    def _restore(
        self, step: int, nm_applied: bool, masks: Mapping[str, NDArray[Any]]
    ) -> None:
        self.pruning_step = step
        self._nm_applied = nm_applied
        self._maskset = MaskSet(masks)
        self._bound = None  # re-chosen (and checked) at the next step

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> ArrayPruner:
        """An engine rebuilt from :meth:`state_dict` output."""
        config, step, nm_applied, masks = _validate_state(state)
        eng: ArrayPruner = _rebuild(cls._from_config, config, masks)
        eng._restore(step, nm_applied, masks)
        return eng


def _config_args(config: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A config's schedule and constructor keywords (JSON forms turned back)."""
    cfg = dict(config)
    try:
        schedule_cfg = cfg.pop("schedule")
    except KeyError:
        raise ValueError("config must have a 'schedule' entry") from None
    schedule = None if schedule_cfg is None else schedule_from_config(schedule_cfg)
    for key in ("block_size", "nm"):
        if isinstance(cfg.get(key), list):
            cfg[key] = tuple(cfg[key])
    if "norm" in cfg:
        cfg["norm"] = _norm_from_json(cfg["norm"])
    if cfg.get("policy") is not None:
        cfg["policy"] = policy_from_config(cfg["policy"])
    return schedule, cfg


def _rebuild(
    factory: Callable[..., Any],
    config: Mapping[str, Any],
    masks: Mapping[str, NDArray[Any]],
) -> Any:
    """``factory(config, masks)`` for a fixed-mask config, else ``factory(config)``.

    Every problem of the config (a wrong key, type or value) is a ValueError
    naming the state.
    """
    fixed = config.get("schedule", 0) is None
    try:
        return factory(config, masks if fixed else None)
    except (TypeError, ValueError, KeyError, IndexError) as e:
        raise ValueError(f"state['config'] is not a valid config: {e}") from None


# --------------------------------------------------------------------- callback
def _engine_setting(name: str) -> Any:
    """A read-only property of :class:`Pruner` reading the engine's `name`."""

    def get(self: Pruner) -> Any:
        return getattr(self._engine, name)

    return property(get, doc=f"As the parameter (the engine's ``{name}``).")


class Pruner(Callback):
    """Prune a model's weights during ``fit`` following a schedule.

    The callback form of :class:`ArrayPruner` (one implementation of the
    pruning semantics), for :class:`~sparsecore.nn.Sequential`.

    Parameters
    ----------
    schedule : PruningSchedule, optional
        When to prune and to which sparsity (:class:`PolynomialDecay`,
        :class:`ConstantSparsity`). Omit it, and give `masks`, for fixed masks.
    criterion : {'magnitude', 'structured', 'random', 'random_structured', 'nm'}
        ``'magnitude'`` (default): smallest |w| (or blocks, see `block_size`);
        ``'structured'``: whole neurons (kernel columns for ``axis=1``) by
        their Ln norm; ``'random'``: uniformly at random (the baseline);
        ``'random_structured'``: whole neurons at random; ``'nm'``: `nm` =
        (n_zeros, group) sparsity along `axis`, computed once.
    scope : {'layer', 'global'}, default='layer'
        ``'layer'`` prunes every weight array to the schedule's sparsity (as
        tfmot); ``'global'`` ranks all of them together (magnitude and random
        criteria only).
    weights : list of str, optional
        Names in ``model.weights()`` to prune; default every kernel
        (``"<layer>/kernel"``). Biases only with `prune_biases`.
    block_size : tuple (height, width), default=(1, 1)
        Block sparsity for the magnitude criterion (rank-2 weights only).
    block_pooling : {'avg', 'max'}, default='avg'
        How a block's |w| is pooled.
    mask_gradients : bool, default=True
        True (strict): gradients and optimizer state of pruned weights are
        zeroed, pruned weights are exactly zero after every step, and each new
        mask is ranked among the weights kept so far, so under a non-decreasing
        schedule it is a subset of the previous one. False reproduces tfmot:
        dense gradients, weights re-masked before every forward pass and at
        the end of each epoch, masks re-ranked from scratch (pruned weights
        can come back).
    nm : tuple (n_zeros, group), default=(2, 4)
        For ``criterion='nm'``: 2:4 prunes two of every four; a group that
        does not divide the axis pads the last group (as tfmot).
    axis : int, optional
        Channel axis for the structured criteria (default 1, output neurons)
        and group axis for ``'nm'`` (default 0, the input dimension, as tfmot).
    norm : float, default=1
        Order of the norm of ``'structured'``, in (0, inf] (``math.inf``: the
        largest magnitude).
    seed : int, optional
        Seed of the random criteria; the mask at step t uses
        ``np.random.default_rng((seed, t))``, so a resumed run draws the same
        masks. Drawn at random (and kept in the state) when None; unused by
        the other criteria.
    masks : dict of str to bool ndarray, optional
        Without a schedule: fixed masks, kept exactly through training (the
        weights, their gradients and optimizer state are zero at pruned
        entries after every step), saved in checkpoints, stripped like any
        other (torch's ``custom_from_mask``). With a schedule: the starting
        masks. The names must be weights of the model.
    include, exclude : list of str, optional
        Glob patterns over the candidate names (``"dense_*/kernel"``).
    prune_biases : bool, default=False
        Biases may be pruned too (named, or as candidates).
    policy : PruningPolicy, optional
        E.g. ``KeepDense(first=True, last=True)``: leave the first and last
        layer dense.
    sparse_training : {'auto', 'measure', True, False}, default='auto'
        Train the masked Dense layers on sparse kernels while their masks
        are fixed (strict mode only): the forward product, the input
        gradient and the weight gradient at the kept positions only, with
        the optimizer updating the kept values alone (slots of nnz
        entries). ``'auto'`` takes that path for a layer where the cost
        model says it is faster than dense-masked training, ``'measure'``
        where timing the products on the layer says so, True for every
        Dense kernel, False never. The results are those of dense-masked
        training up to float rounding of the sums; checkpoints,
        ``get_weights`` and ``strip`` see the usual dense arrays (see
        :mod:`sparsecore.prune.sparse_training`). Inside ``fit``,
        ``model.weights()`` holds a sparse layer's kept values (nnz,) in
        place of its kernel; the dense kernel is back after ``fit``.

    Attributes
    ----------
    schedule : PruningSchedule or None
    step : int
        Training steps seen so far (0 before the first batch).
    masks : dict of str to bool ndarray
        Current mask per pruned weight (True = kept); read-only arrays.
    sparsity : float
        Fraction of the pruned weights' entries that the masks prune.

    Warns
    -----
    PruningScheduleWarning
        At the start of ``fit``, when the run ends before the schedule's last
        pruning step (so the final sparsity is not reached), or when
        ``end_step - begin_step`` is not a multiple of ``frequency`` (so
        the final sparsity is never applied).

    Notes
    -----
    The N:M mask ignores the schedule's sparsity and is computed once, at the
    first step ``t >= max(begin_step, 1)``. tfmot computes it at step 1
    whatever the schedule; the two agree when ``begin_step <= 1`` (as with
    tfmot's default ``ConstantSparsity(0.5, 0)``).

    Examples
    --------
    >>> import sparsecore as sc
    >>> schedule = sc.PolynomialDecay(0.0, 0.75, begin_step=1000, end_step=5000)
    >>> pruner = sc.Pruner(schedule)  # doctest: +SKIP
    >>> model.fit(x, y, epochs=700, callbacks=[pruner])  # doctest: +SKIP
    >>> sc.sparsity_report(model)  # doctest: +SKIP
    >>> ticket = sc.Pruner(masks=pruner.masks)  # fixed masks  # doctest: +SKIP
    """

    def __init__(
        self,
        schedule: PruningSchedule | None = None,
        criterion: str = "magnitude",
        scope: str = "layer",
        weights: Sequence[str] | None = None,
        block_size: tuple[int, int] = (1, 1),
        block_pooling: str = "avg",
        mask_gradients: bool = True,
        *,
        nm: tuple[int, int] = (2, 4),
        axis: int | None = None,
        norm: float = 1,
        seed: int | None = None,
        masks: Mapping[str, Any] | None = None,
        include: Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
        prune_biases: bool = False,
        policy: PruningPolicy | None = None,
        sparse_training: bool | str = "auto",
    ) -> None:
        super().__init__()
        if schedule is None and masks is None:
            raise TypeError(
                "schedule must be a PruningSchedule (or give masks={name: bool "
                "array} for fixed masks); got None"
            )
        if schedule is not None:
            validate_type("schedule", schedule, PruningSchedule, "a PruningSchedule")
        names = validate_names("weights", weights)
        self.mask_gradients = validate_bool("mask_gradients", mask_gradients)
        if masks is not None and names is not None and isinstance(masks, Mapping):
            if set(names) != set(masks):
                raise ValueError(
                    f"weights must be those of masks {sorted(map(str, masks))}; "
                    f"got {names!r}"
                )
        self._engine = ArrayPruner(
            schedule,
            criterion,
            scope,
            names,
            masks=masks,
            include=include,
            exclude=exclude,
            prune_biases=prune_biases,
            policy=policy,
            block_size=block_size,
            block_pooling=block_pooling,
            nm=nm,
            axis=axis,
            norm=norm,
            seed=seed,
            nested=self.mask_gradients,
        )
        eng = self._engine
        eng._arg, eng._where, eng._default = "weights", "the model", _is_kernel
        eng._default_text = "no weight named '<layer>/kernel'"
        self._dirty = True  # masks must be applied to the weights at the next step
        self.sparse_training = validate_mode("sparse_training", sparse_training)
        self._sparse = SparseTraining(self.sparse_training)
        self._sparse_seen: MaskSet | None = None  # the masks the sparse path follows

    # ------------------------------------------------------------------ settings
    # The settings live in the engine; these read them (see the parameters).
    schedule = _engine_setting("schedule")
    criterion = _engine_setting("criterion")
    scope = _engine_setting("scope")
    weights = _engine_setting("names")
    include = _engine_setting("include")
    exclude = _engine_setting("exclude")
    prune_biases = _engine_setting("prune_biases")
    policy = _engine_setting("policy")
    block_size = _engine_setting("block_size")
    block_pooling = _engine_setting("block_pooling")
    nm = _engine_setting("nm")
    axis = _engine_setting("axis")
    norm = _engine_setting("norm")
    seed = _engine_setting("seed")

    @property
    def step(self) -> int:
        """Training steps seen so far (0 before the first batch)."""
        return self._engine.pruning_step

    @property
    def fixed(self) -> bool:
        """Whether the masks are fixed (no schedule)."""
        return self._engine.fixed

    @property
    def masks(self) -> dict[str, Mask]:
        """Current mask per pruned weight name (read-only arrays)."""
        return self._engine.masks

    @property
    def sparsity(self) -> float:
        """Fraction of the pruned weights' entries that the masks prune."""
        return self._engine.sparsity

    def summary(self) -> dict[str, float]:
        """What to log at this step; see :meth:`ArrayPruner.summary`."""
        return self._engine.summary()

    @property
    def sparse(self) -> SparseTraining:
        """The sparse-training engine: its plans (``.summary()``), the layers
        on the sparse path (``.names``)."""
        return self._sparse

    def __repr__(self) -> str:
        if self.schedule is None:
            return f"Pruner(masks={list(self.masks)}, step={self.step})"
        return (
            f"Pruner({self.schedule!r}, criterion={self.criterion!r}, "
            f"scope={self.scope!r}, step={self.step})"
        )

    # ------------------------------------------------------------------ attach
    def _attach(self, model: Any) -> None:
        if model is None:
            raise RuntimeError("the Pruner has no model: use it as a fit callback")
        current = getattr(model, "pruner", None)
        if current is not None and current is not self:
            raise ValueError(
                "model already has another Pruner attached (model.pruner); "
                "pass that one to fit, or detach it with model.pruner.strip(model)"
            )
        live = model.weights()
        if self._engine._removed:
            raise RuntimeError(
                "this Pruner's masks were all removed; create a new one to prune again"
            )
        self._engine._bind(live)
        model.pruner = self
        self.model = model

    def set_model(self, model: Any) -> None:
        """Remember `model` and attach as ``model.pruner`` (called by ``fit``)."""
        super().set_model(model)
        self._attach(model)

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._attach(self.model)
        self._dirty = True
        if self.schedule is not None:
            # Called from here, so that its stacklevel points at the user's fit().
            warn_schedule_coverage(
                self.schedule,
                self.params,
                self.step,
                nm=self.criterion == "nm",
                nm_applied=self._engine._nm_applied,
            )

    def on_train_batch_begin(
        self, batch: int, logs: dict[str, Any] | None = None
    ) -> None:
        sparse = self._sparse
        # New masks are ranked on the dense weights: a sparse kernel is
        # expanded only if the schedule prunes at this step.
        if self._engine._advance(
            sparse.dense_weights() if sparse.active else self.model.weights()
        ):
            self._dirty = True
        self._sync_sparse()
        if self._dirty or not self.mask_gradients:  # tfmot re-masks every forward
            # (a layer on the sparse path holds its kept values only: its
            # (nnz,) kernel and slots are skipped by MaskSet's shape check)
            self._engine._maskset.apply(self.model.weights())
            if self.mask_gradients:  # a new (or restored) mask: the slots too
                self._engine._maskset.apply_to_optimizer_state(
                    getattr(self.model, "optimizer", None)
                )
            self._dirty = False

    def on_before_optimizer_step(self) -> None:
        if self.mask_gradients:
            self._engine._maskset.apply(self.model.gradients())

    def on_after_optimizer_step(self) -> None:
        if self.mask_gradients:
            maskset = self._engine._maskset
            maskset.apply(self.model.weights())
            maskset.apply_to_optimizer_state(getattr(self.model, "optimizer", None))

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._stop_sparse()  # the dense kernels back, zeros where pruned

    def on_train_exception(self, exc: BaseException) -> None:
        self._stop_sparse()

    # ------------------------------------------------------------------ sparse path
    def _sync_sparse(self) -> None:
        """Put the sparse path on the current masks, when they changed."""
        maskset = self._engine._maskset
        if maskset is self._sparse_seen:
            return
        self._sparse_seen = maskset
        if not self.mask_gradients or self.sparse_training is False:
            self._sparse.stop()
            return
        self._sparse.update(
            self.model,
            maskset.masks,
            self.params.get("batch_size"),
            fixed_steps=self._steps_fixed(),
        )

    def _steps_fixed(self, horizon: int = 100) -> int:
        """Steps (this one included, at most `horizon`) the masks stay as they are."""
        eng = self._engine
        if eng.schedule is None:
            return horizon
        if eng.criterion == "nm":
            return horizon if eng._nm_applied else 1
        t = eng.pruning_step
        ahead = np.arange(t + 1, min(t + horizon, MAX_STEP + 1), dtype=np.int64)
        due = np.flatnonzero(eng.schedule.should_prune_at(ahead))
        if due.size:
            return int(due[0]) + 1
        return horizon if t + horizon <= MAX_STEP + 1 else max(1, ahead.size + 1)

    def _stop_sparse(self) -> None:
        self._sparse.stop()
        self._sparse_seen = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self.mask_gradients:  # as tfmot's UpdatePruningStep.on_epoch_end
            self._engine._maskset.apply(self.model.weights())
        if logs is not None:
            logs["sparsity"] = self.sparsity

    # ------------------------------------------------------------------ strip
    def strip(self, model: Any = None) -> Any:
        """Fold the masks into the weights and detach from `model`.

        Pruned entries become exactly 0.0; ``model.pruner`` becomes None. The
        model then trains (and saves) as a plain dense model holding zeros
        (its weights are the model's own plain arrays). This is an *in place*
        operation on the weights.

        Parameters
        ----------
        model : Sequential, optional
            Defaults to the model the pruner is attached to.

        Returns
        -------
        model
        """
        model = self.model if model is None else model
        if model is None:
            raise RuntimeError("the Pruner is not attached to a model; pass model")
        self._stop_sparse()
        live = model.weights()
        for name, m in self.masks.items():
            if name not in live or live[name].shape != m.shape:
                raise ValueError(f"the model has no weight {name!r} of shape {m.shape}")
            np.copyto(live[name], 0, where=~m)
        if getattr(model, "pruner", None) is self:
            model.pruner = None
        if self.model is model:
            self.model = None
        return model

    def remove(self, name: str, model: Any = None) -> Any:
        """Make the pruning of weight `name` permanent and stop pruning it.

        torch's ``prune.remove(module, name)``: the mask is folded into the
        weight (exact zeros) and forgotten; the other weights stay pruned.
        Removing the last one strips the pruner from the model.

        Raises
        ------
        ValueError
            If `name` is not pruned.
        """
        model = self.model if model is None else model
        if name not in self.masks:
            raise ValueError(
                f"weight {name!r} is not pruned, so its pruning cannot be "
                f"removed; pruned: {list(self.masks)}"
            )
        if len(self.masks) == 1:
            if model is None:
                raise RuntimeError("the Pruner is not attached to a model; pass model")
            return self.strip(model)
        self._stop_sparse()
        if model is not None:
            live = model.weights()
            np.copyto(live[name], 0, where=~self.masks[name])
        self._engine.remove(None, name)
        return model

    # ------------------------------------------------------------------ state
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-serialisable dict (masks excluded).

        Options at their defaults that older configs lack (``include``,
        ``exclude``, ``prune_biases``, ``policy``, ``sparse_training``) are
        left out, so a saved config reads back unchanged.
        """
        eng = self._engine
        config: dict[str, Any] = {
            "schedule": None if eng.schedule is None else eng.schedule.get_config(),
            "criterion": eng.criterion,
            "scope": eng.scope,
            "weights": None if eng.names is None else list(eng.names),
            "block_size": list(eng.block_size),
            "block_pooling": eng.block_pooling,
            "mask_gradients": self.mask_gradients,
            "nm": list(eng.nm),
            "axis": eng.axis,
            "norm": _norm_to_json(eng.norm),
            "seed": eng.seed,
        }
        if eng.include is not None:
            config["include"] = list(eng.include)
        if eng.exclude is not None:
            config["exclude"] = list(eng.exclude)
        if eng.prune_biases:
            config["prune_biases"] = True
        if eng.policy is not None:
            config["policy"] = eng.policy.get_config()
        if self.sparse_training != "auto":
            config["sparse_training"] = self.sparse_training
        return config

    @classmethod
    def _from_config(
        cls, config: Mapping[str, Any], masks: Mapping[str, Any] | None = None
    ) -> Pruner:
        schedule, kwargs = _config_args(config)
        return cls(schedule, masks=masks, **kwargs)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Pruner:
        """A fresh pruner (step 0, no masks) from :meth:`get_config` output.

        Raises
        ------
        ValueError
            For a fixed-mask config (its masks are in the state: use
            :meth:`from_state_dict`).
        """
        if isinstance(config, Mapping) and config.get("schedule", 0) is None:
            raise ValueError(
                "a fixed-mask Pruner's config holds no masks: rebuild it with "
                "Pruner.from_state_dict"
            )
        return cls._from_config(config)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: config, step and masks.

        Returns
        -------
        dict
            ``{"config": dict (JSON-able), "step": int, "nm_applied": bool,
            "masks": {name: bool ndarray}}``; no objects to pickle.
        """
        return {
            "config": self.get_config(),
            "step": self.step,
            "nm_applied": self._engine._nm_applied,
            "masks": {n: m.copy() for n, m in self.masks.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore config, step and masks from :meth:`state_dict` output.

        Raises
        ------
        ValueError
            If the state is malformed (step outside [0, 2**62], masks not
            bool, unknown keys, an invalid config), or its masks do not fit
            the attached model.
        """
        config, step, nm_applied, masks = _validate_state(state)
        fresh = _rebuild(type(self)._from_config, config, masks)
        model = self.model
        self._stop_sparse()  # the engine is replaced below: the dense kernels back
        self.__dict__.update(
            {k: v for k, v in fresh.__dict__.items() if k not in ("model", "params")}
        )
        self._engine._restore(step, nm_applied, masks)
        self._dirty = True
        if model is not None:
            self._attach(model)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> Pruner:
        """A pruner rebuilt from :meth:`state_dict` output (not attached yet)."""
        config, step, nm_applied, masks = _validate_state(state)
        pruner: Pruner = _rebuild(cls._from_config, config, masks)
        pruner._engine._restore(step, nm_applied, masks)
        return pruner


# --------------------------------------------------------------------- model helpers
def strip_pruning(model: Any) -> Any:
    """Fold the attached pruner's masks into `model` and detach it.

    Returns `model`; a model without a pruner is returned unchanged (as
    tfmot's ``strip_pruning``).
    """
    pruner = getattr(model, "pruner", None)
    if pruner is None:
        return model
    return pruner.strip(model)


def is_pruned(model: Any) -> bool:
    """Whether `model` has a pruner attached (torch's ``prune.is_pruned``).

    A model pruned and then stripped holds zeros but is not "pruned" any
    more: nothing keeps its zeros at zero.
    """
    return getattr(model, "pruner", None) is not None


def remove(model: Any, name: str | None = None) -> Any:
    """Make the pruning of `model` permanent: the weight `name`, or all of them.

    torch's ``prune.remove``; with `name` None this is :func:`strip_pruning`.

    Raises
    ------
    ValueError
        If `model` is not pruned, or `name` is not one of its pruned weights
        (as torch).
    """
    pruner = getattr(model, "pruner", None)
    if pruner is None:
        raise ValueError(
            "the model is not pruned (no pruner attached), so pruning cannot be removed"
        )
    if name is None:
        return pruner.strip(model)
    return pruner.remove(name, model)
