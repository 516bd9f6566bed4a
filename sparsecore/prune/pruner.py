"""The Pruner: a training callback that prunes a model while it trains.

One training step inside ``fit`` (see :mod:`sparsecore.nn.callbacks`)::

    on_train_batch_begin     step += 1; if the schedule says so, recompute the
                             masks from the current weights; apply the masks
    forward, loss, backward
    on_before_optimizer_step zero the gradients of pruned weights     (strict)
    optimizer step
    on_after_optimizer_step  re-mask the weights and zero the optimizer
                             state (momentum, Adam moments) there     (strict)

The k-th training batch, counted over all epochs and ``fit`` calls, is step
k; step 0 is never a training step; ``predict``/``evaluate`` call no
callbacks, so inference changes neither step nor mask.

The hot path (the three per-step hooks) multiplies in place by a cached mask
of the weight's dtype: it allocates nothing of parameter size.

The masks themselves are computed by :func:`compute_masks` (which
dispatches to the criteria of :mod:`sparsecore.prune.criteria`) and kept by a
:class:`MaskSet` (the current masks and, per pruned weight, the mask as 0/1
in each dtype seen, so that the per-step hooks multiply in place). The
warnings given at the start of ``fit`` when the schedule does not fit the run
are :func:`sparsecore.prune.schedules.warn_schedule_coverage`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    structured_mask,
    validate_block,
)
from sparsecore.prune.schedules import (
    PruningSchedule,
    schedule_from_config,
    warn_schedule_coverage,
)

__all__ = [
    "CRITERIA",
    "SCOPES",
    "MaskSet",
    "Pruner",
    "compute_masks",
    "strip_pruning",
]

#: Mask criteria a :class:`Pruner` accepts.
CRITERIA = ("magnitude", "nm", "random", "structured")
#: ``"layer"``: every weight array pruned to the schedule's sparsity;
#: ``"global"``: one ranking over all of them.
SCOPES = ("global", "layer")


class Pruner(Callback):
    """Prune a model's weights during ``fit`` following a schedule.

    Parameters
    ----------
    schedule : PruningSchedule
        When to prune and to which sparsity (:class:`PolynomialDecay`,
        :class:`ConstantSparsity`).
    criterion : {'magnitude', 'structured', 'random', 'nm'}, default='magnitude'
        ``'magnitude'``: smallest |w| (or blocks, see `block_size`);
        ``'structured'``: whole neurons (kernel columns for ``axis=1``) by
        their Ln norm; ``'random'``: uniformly at random (the baseline);
        ``'nm'``: `nm` = (n_zeros, group) sparsity along `axis`, computed once.
    scope : {'layer', 'global'}, default='layer'
        ``'layer'`` prunes every weight array to the schedule's sparsity (as
        tfmot); ``'global'`` ranks all of them together (magnitude and random
        criteria only).
    weights : list of str, optional
        Names in ``model.weights()`` to prune; default every kernel
        (``"<layer>/kernel"``). Biases are never pruned.
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
        For ``criterion='nm'``: 2:4 prunes two of every four.
    axis : int, optional
        Channel axis for ``'structured'`` (default 1, output neurons) and
        group axis for ``'nm'`` (default 0, the input dimension, as tfmot).
    norm : {1, 2}, default=1
        Norm of ``'structured'``.
    seed : int, optional
        Seed of ``'random'``; the mask at step t uses
        ``np.random.default_rng((seed, t))``, so a resumed run draws the same
        masks. Drawn at random (and kept in the state) when None; unused by
        the other criteria.

    Attributes
    ----------
    schedule : PruningSchedule
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
    """

    def __init__(
        self,
        schedule: PruningSchedule,
        criterion: str = "magnitude",
        scope: str = "layer",
        weights: Sequence[str] | None = None,
        block_size: tuple[int, int] = (1, 1),
        block_pooling: str = "avg",
        mask_gradients: bool = True,
        *,
        nm: tuple[int, int] = (2, 4),
        axis: int | None = None,
        norm: int = 1,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.schedule = validate_type(
            "schedule", schedule, PruningSchedule, "a PruningSchedule"
        )
        self.criterion = validate_choice("criterion", criterion, CRITERIA)
        self.scope = validate_choice("scope", scope, SCOPES)
        if scope == "global" and criterion not in ("magnitude", "random"):
            raise ValueError(
                f"scope='global' needs criterion 'magnitude' or 'random'; "
                f"got criterion={criterion!r}"
            )
        if isinstance(weights, str):
            weights = [weights]
        if weights is not None:
            weights = list(weights)
            if not weights or not all(isinstance(n, str) for n in weights):
                raise TypeError(
                    f"weights must be None or a non-empty list of str; got {weights!r}"
                )
        self.weights = weights
        block, pooling = validate_block(block_size, block_pooling)
        if block != (1, 1) and criterion != "magnitude":
            raise ValueError(
                f"block_size must be (1, 1) unless criterion='magnitude'; "
                f"got {block_size!r} with criterion={criterion!r}"
            )
        self.block_size, self.block_pooling = block, pooling
        self.mask_gradients = validate_bool("mask_gradients", mask_gradients)
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
        self.norm = int(validate_choice("norm", norm, (1, 2)))
        if seed is None and criterion == "random":
            seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1)
        self.seed = validate_seed("seed", seed)

        self.step = 0
        self._maskset = MaskSet()
        self._nm_applied = False
        self._dirty = True  # masks must be applied to the weights at the next step

    # ------------------------------------------------------------------ views
    @property
    def masks(self) -> dict[str, Mask]:
        """Current mask per pruned weight name (read-only arrays)."""
        return dict(self._maskset.masks)

    @property
    def sparsity(self) -> float:
        """Fraction of the pruned weights' entries that the masks prune."""
        return self._maskset.sparsity

    def __repr__(self) -> str:
        return (
            f"Pruner({self.schedule!r}, criterion={self.criterion!r}, "
            f"scope={self.scope!r}, step={self.step})"
        )

    # ------------------------------------------------------------------ attach
    def _select(self, live: Mapping[str, NDArray[Any]]) -> list[str]:
        if self.weights is None:
            names = [n for n in live if n.endswith("/kernel")]
            if not names:
                raise ValueError(
                    f"the model has no weight named '<layer>/kernel' to prune; "
                    f"pass weights=[...] from {sorted(live)}"
                )
            return names
        for name in self.weights:
            if name not in live:
                raise ValueError(
                    f"weights must name weights of the model {sorted(live)}; "
                    f"got {name!r}"
                )
            if name.rsplit("/", 1)[-1] == "bias":
                raise ValueError(f"biases are never pruned; got weights entry {name!r}")
        return list(self.weights)

    def _check_shape(self, name: str, shape: tuple[int, ...]) -> None:
        if self.block_size != (1, 1) and len(shape) != 2:
            raise ValueError(
                f"block_size {self.block_size} needs rank-2 weights; "
                f"{name!r} has shape {shape}"
            )
        if self.criterion in ("nm", "structured"):
            if not -len(shape) <= self.axis < len(shape):
                raise IndexError(
                    f"axis must be an int in [{-len(shape)}, {len(shape)}) for "
                    f"{name!r} of shape {shape}; got {self.axis!r}"
                )
        if self.criterion == "nm" and shape[self.axis] % self.nm[1]:
            raise ValueError(
                f"nm group {self.nm[1]} must divide {name!r}.shape[{self.axis}] = "
                f"{shape[self.axis]}"
            )

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
        names = self._select(live)
        masks = self._maskset.masks
        if masks:
            if set(masks) != set(names):
                raise ValueError(
                    f"the masks are for weights {sorted(masks)} but the model "
                    f"prunes {sorted(names)}"
                )
            for name in names:
                if masks[name].shape != live[name].shape:
                    raise ValueError(
                        f"masks[{name!r}] has shape {masks[name].shape} but the "
                        f"weight has shape {live[name].shape}"
                    )
        for name in names:
            self._check_shape(name, live[name].shape)
        if not masks:
            self._set_masks({n: np.ones(live[n].shape, dtype=bool) for n in names})
        model.pruner = self
        self.model = model

    def set_model(self, model: Any) -> None:
        """Remember `model` and attach as ``model.pruner`` (called by ``fit``)."""
        super().set_model(model)
        self._attach(model)

    # ------------------------------------------------------------------ masks
    def _set_masks(self, masks: Mapping[str, Mask]) -> None:
        self._maskset = MaskSet(masks)
        self._dirty = True

    def _compute_masks(self, sparsity: float) -> dict[str, Mask]:
        live = self.model.weights()
        return compute_masks(
            {n: live[n] for n in self._maskset.masks},
            sparsity,
            criterion=self.criterion,
            scope=self.scope,
            prev=self._maskset.masks if self.mask_gradients else None,
            block_size=self.block_size,
            block_pooling=self.block_pooling,
            nm=self.nm,
            axis=self.axis,
            norm=self.norm,
            seed=(self.seed or 0, self.step),
        )

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._attach(self.model)
        self._dirty = True
        # Called from here, so that its stacklevel points at the user's fit().
        warn_schedule_coverage(
            self.schedule,
            self.params,
            self.step,
            nm=self.criterion == "nm",
            nm_applied=self._nm_applied,
        )

    def on_train_batch_begin(
        self, batch: int, logs: dict[str, Any] | None = None
    ) -> None:
        self.step += 1
        changed = False
        if self.criterion == "nm":
            if not self._nm_applied and self.step >= max(self.schedule.begin_step, 1):
                self._set_masks(self._compute_masks(0.0))
                self._nm_applied = changed = True
        else:
            should_prune, sparsity = self.schedule(self.step)
            if should_prune:
                self._set_masks(self._compute_masks(sparsity))
                changed = True
        if self._dirty or not self.mask_gradients:  # tfmot re-masks every forward
            self._maskset.apply(self.model.weights())
            self._dirty = False
        if changed and self.mask_gradients:
            self._maskset.apply_to_optimizer_state(
                getattr(self.model, "optimizer", None)
            )

    def on_before_optimizer_step(self) -> None:
        if self.mask_gradients:
            self._maskset.apply(self.model.gradients())

    def on_after_optimizer_step(self) -> None:
        if self.mask_gradients:
            self._maskset.apply(self.model.weights())
            self._maskset.apply_to_optimizer_state(
                getattr(self.model, "optimizer", None)
            )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self.mask_gradients:  # as tfmot's UpdatePruningStep.on_epoch_end
            self._maskset.apply(self.model.weights())
        if logs is not None:
            logs["sparsity"] = self.sparsity

    # ------------------------------------------------------------------ strip
    def strip(self, model: Any = None) -> Any:
        """Fold the masks into the weights and detach from `model`.

        Pruned entries become exactly 0.0; ``model.pruner`` becomes None. The
        model then trains (and saves) as a plain dense model holding zeros.
        This is an *in place* operation on the weights.

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
        live = model.weights()
        for name, m in self._maskset.masks.items():
            if name not in live or live[name].shape != m.shape:
                raise ValueError(f"the model has no weight {name!r} of shape {m.shape}")
            np.copyto(live[name], 0, where=~m)
        if getattr(model, "pruner", None) is self:
            model.pruner = None
        if self.model is model:
            self.model = None
        return model

    # ------------------------------------------------------------------ state
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-serialisable dict."""
        return {
            "schedule": self.schedule.get_config(),
            "criterion": self.criterion,
            "scope": self.scope,
            "weights": None if self.weights is None else list(self.weights),
            "block_size": list(self.block_size),
            "block_pooling": self.block_pooling,
            "mask_gradients": self.mask_gradients,
            "nm": list(self.nm),
            "axis": self.axis,
            "norm": self.norm,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Pruner:
        """A fresh pruner (step 0, no masks) from :meth:`get_config` output."""
        cfg = dict(config)
        schedule = schedule_from_config(cfg.pop("schedule"))
        cfg["block_size"] = tuple(cfg.get("block_size", (1, 1)))
        cfg["nm"] = tuple(cfg.get("nm", (2, 4)))
        return cls(schedule, **cfg)

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
            "nm_applied": self._nm_applied,
            "masks": {n: m.copy() for n, m in self._maskset.masks.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore config, step and masks from :meth:`state_dict` output.

        Raises
        ------
        ValueError
            If the state is malformed, or its masks do not fit the attached model.
        """
        try:
            config, step, masks = state["config"], state["step"], state["masks"]
        except (KeyError, TypeError):
            raise ValueError(
                "state must be a dict with keys 'config', 'step' and 'masks'"
            ) from None
        step_arr = np.asarray(step)
        if step_arr.shape != () or step_arr.dtype.kind not in "iu" or step_arr < 0:
            raise ValueError(f"state['step'] must be an int in [0, inf); got {step!r}")
        if not isinstance(masks, Mapping):
            raise ValueError(f"state['masks'] must be a dict of arrays; got {masks!r}")
        for name, m in masks.items():
            if np.asarray(m).dtype != np.bool_:
                raise ValueError(
                    f"state['masks'][{name!r}] must be a bool array; "
                    f"got dtype {np.asarray(m).dtype}"
                )
        fresh = type(self).from_config(config)
        model = self.model
        self.__dict__.update(
            {k: v for k, v in fresh.__dict__.items() if k not in ("model", "params")}
        )
        self.step = int(step_arr)
        self._nm_applied = bool(state.get("nm_applied", False))
        self._set_masks({n: np.asarray(m) for n, m in masks.items()})
        if model is not None:
            self._attach(model)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> Pruner:
        """A pruner rebuilt from :meth:`state_dict` output (not attached yet)."""
        pruner = cls.from_config(state["config"])
        pruner.load_state_dict(state)
        return pruner


def strip_pruning(model: Any) -> Any:
    """Fold the attached pruner's masks into `model` and detach it.

    Returns `model`; a model without a pruner is returned unchanged (as
    tfmot's ``strip_pruning``).
    """
    pruner = getattr(model, "pruner", None)
    if pruner is None:
        return model
    return pruner.strip(model)


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
    norm: int,
    seed: tuple[int, int],
) -> dict[str, Mask]:
    """New masks for `weights` at `sparsity`, as a :class:`Pruner` set up so.

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
        keep (strict mode). None ranks from scratch.
    seed : tuple (seed, step)
        Seeds the generator of ``criterion='random'``.

    Returns
    -------
    dict of str to bool ndarray
        Same names and shapes as `weights` (True = kept).
    """
    if criterion == "nm":
        n_zeros, group = nm
        return {n: nm_mask(a, n_zeros, group, axis=axis) for n, a in weights.items()}
    if criterion == "magnitude" and scope == "global":
        return global_magnitude_masks(
            weights,
            sparsity,
            block_size=block_size,
            block_pooling=block_pooling,
            prev_masks=prev,
        )
    if criterion == "magnitude":
        return {
            n: magnitude_mask(
                a,
                sparsity,
                block_size=block_size,
                block_pooling=block_pooling,
                prev_mask=None if prev is None else prev[n],
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
                prev_mask=None if prev is None else prev[n],
            )
            for n, a in weights.items()
        }
    rng = np.random.default_rng(seed)
    if scope == "global":
        return global_random_masks(weights, sparsity, rng, prev_masks=prev)
    return {
        n: random_mask(a, sparsity, rng, prev_mask=None if prev is None else prev[n])
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
        self._n_kept = self._n_total = 0
        for name, m in (masks or {}).items():
            m = np.array(m, dtype=bool, copy=True)
            m.setflags(write=False)
            self.masks[name] = m
            kept = int(np.count_nonzero(m))
            self._n_kept += kept
            self._n_total += m.size
            if kept < m.size:
                self._factors[name] = {}

    @property
    def sparsity(self) -> float:
        """Fraction of the masks' entries that they prune (0.0 without masks)."""
        return 1.0 - self._n_kept / self._n_total if self._n_total else 0.0

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
