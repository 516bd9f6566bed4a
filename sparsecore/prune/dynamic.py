"""Dynamic sparse training: RigL and SET, as training callbacks.

The network is sparse from the first step to the last: each layer keeps a
fixed number of connections (uniform or Erdős–Rényi-kernel allocation, drawn
at random at the start), and every ``update_frequency`` steps a fraction of
them is dropped (smallest |w|) and as many are grown elsewhere:

- :class:`RigL` (Evci et al. 2020) grows where the dense gradient is largest
  and decays the drop fraction with a cosine until ``end_step``;
- :class:`SET` (Mocanu et al. 2018) grows at random, with a constant fraction.

One training step with either callback::

    on_train_batch_begin      step += 1
    forward, loss, backward   (dense gradients: every kernel entry gets one)
    on_before_optimizer_step  at an update step, RigL keeps |g|; then the
                              gradients of inactive weights are zeroed
    optimizer step            (with the current mask)
    on_after_optimizer_step   inactive weights and their optimizer state are
                              zeroed; at an update step the masks change:
                              drop, grow, and the grown weights start at 0
                              with zero optimizer state

So the sparsity of every layer is exact at every step, a grown weight enters
the next forward pass at exactly zero, and its Adam moments (or momentum)
start from zero. A connection dropped and regrown in the same update keeps its
value and state, as in google-research/rigl (``reinit_when_same=False``).
Unlike the reference, the optimizer also takes its step at an update step
(the reference skips it); the update then acts on the stepped weights.

Checkpoints: after every epoch the callback puts its state (step, resolved
``end_step``, masks, update log) in ``model.callback_states``, which
``model.save`` and :class:`~sparsecore.checkpoint.ModelCheckpoint` write. A
``fit`` that continues the run (``initial_epoch == model.epoch > 0``, as after
:func:`sparsecore.load_model`) with a callback of the same class and
configuration (``RigL(0.9)`` again) picks it up, so the resumed run is
bit-identical to the uninterrupted one, as for
:class:`~sparsecore.nn.callbacks.EarlyStopping`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sparsecore._checks import (
    validate_choice,
    validate_float,
    validate_int,
    validate_seed,
    validate_sparsity,
)
from sparsecore.nn.callbacks import Callback
from sparsecore.prune.allocation import Allocation, as_allocation
from sparsecore.prune.clone import weight_names
from sparsecore.prune.criteria import top_k_mask
from sparsecore.prune.policy import validate_names
from sparsecore.prune.pruner import MaskSet
from sparsecore.prune.schedules import MAX_STEP
from sparsecore.prune.sparse_training import SparseTraining

__all__ = ["ANNEALING", "SET", "DynamicSparsity", "RigL"]

#: How the drop fraction changes over training.
ANNEALING = ("constant", "cosine")

Mask = NDArray[np.bool_]


class DynamicSparsity(Callback):
    """Base class of :class:`RigL` and :class:`SET`: drop and grow connections.

    Parameters
    ----------
    sparsity : float
        Fraction of each pruned array's entries that are inactive, in [0, 1)
        (per layer for ``'uniform'``; in total for ``'erk'``).
    update_frequency : int, default=100
        Steps between mask updates (``Delta T``); updates happen at steps
        ``t`` with ``t % update_frequency == 0`` and ``t <= end_step``.
    drop_fraction : float, default=0.3
        ``alpha``: fraction of a layer's active connections dropped at an
        update (before annealing), in [0, 1).
    end_step : int, optional
        Last step that may update the masks (``T_end``). Default: 75 % of
        the steps of the first ``fit`` the callback sees, as in the RigL paper.
    distribution : {'uniform', 'erk'} or Allocation, default='uniform'
        How the active connections are shared among layers (an
        :class:`Allocation` with ``policy=KeepDense(...)`` keeps layers dense).
    drop_fraction_anneal : {'cosine', 'constant'}
        ``'cosine'``: ``f(t) = alpha / 2 (1 + cos(pi t / T_end))``.
    weights : list of str, optional
        Names in ``model.weights()``; default every kernel.
    seed : int, default=0
        Seeds the initial random masks (``default_rng((seed, 0))``) and the
        random growth of SET (``default_rng((seed, step))``).
    sparse_training : {'auto', 'measure', True, False}, default='auto'
        Between mask updates, train the masked layers on sparse kernels where
        that is faster (:class:`~sparsecore.prune.SparseTraining`); every
        update step itself runs dense.

    Attributes
    ----------
    step : int
        Training steps seen so far.
    end_step : int or None
        The last step that may update the masks: the `end_step` given, or,
        when None was given, the value resolved at the first ``fit``.
    masks : dict of str to bool ndarray
        Current masks (True = active).
    sparsity : float
        Fraction of the pruned arrays' entries inactive (exact at every step).
    updates : list of tuple (int, float)
        ``(step, drop fraction)`` of every mask update so far.
    state_key : str
        This callback's key in ``model.callback_states``.

    Notes
    -----
    The state (:meth:`state_dict`: step, resolved ``end_step``, masks and
    updates) is put in ``model.callback_states`` at the start of ``fit`` and
    after every epoch, so a checkpoint (``model.save``,
    :class:`~sparsecore.checkpoint.ModelCheckpoint`) keeps it. A ``fit`` that
    continues a run (``initial_epoch == model.epoch > 0``, as after
    :func:`sparsecore.load_model`) with a callback of the same class and
    :meth:`get_config` (the same constructor arguments: ``end_step=None``
    matches ``end_step=None``, and the resolved value comes from the state)
    picks it up and trains bit for bit as the uninterrupted run would, SET's
    random growth included (it is drawn from ``default_rng((seed, step))``).
    With another configuration the saved state is not used: the callback
    warns (:class:`RuntimeWarning`) and starts as it would without it (new
    random masks for a new callback). `sparse_training` is not part of the
    configuration: it changes how the steps are computed, not what.
    """

    #: How grown connections are chosen: ``"gradient"`` or ``"random"``.
    grow = "random"

    def __init__(
        self,
        sparsity: float,
        update_frequency: int = 100,
        drop_fraction: float = 0.3,
        end_step: int | None = None,
        distribution: str | Allocation = "uniform",
        *,
        drop_fraction_anneal: str = "constant",
        weights: Sequence[str] | None = None,
        seed: int = 0,
        sparse_training: Any = "auto",
    ) -> None:
        super().__init__()
        # Between mask updates the masks are fixed: the layers train on sparse
        # kernels where that wins (see sparsecore.prune.sparse_training).
        self.sparse = SparseTraining(sparse_training)
        self.target_sparsity = validate_sparsity("sparsity", sparsity)
        self.update_frequency = validate_int("update_frequency", update_frequency, 1)
        self.drop_fraction = validate_float("drop_fraction", drop_fraction, 0.0, 1.0)
        # get_config() reports the argument; end_step is resolved by fit
        self._end_step_arg = (
            None if end_step is None else validate_int("end_step", end_step, 0)
        )
        self.end_step = self._end_step_arg
        self.allocation = as_allocation(distribution)
        if self.allocation.distribution == "global":
            raise ValueError(
                "distribution must be 'uniform' or 'erk' (a random global mask "
                "has no per-layer budget to keep); got 'global'"
            )
        self.drop_fraction_anneal = validate_choice(
            "drop_fraction_anneal", drop_fraction_anneal, ANNEALING
        )
        self.weights = validate_names("weights", weights)
        checked = validate_seed("seed", seed)
        self.seed = 0 if checked is None else checked
        self.step = 0
        self.updates: list[tuple[int, float]] = []
        self._maskset = MaskSet()
        self._grads: dict[str, NDArray[Any]] = {}

    # ------------------------------------------------------------------ views
    @property
    def masks(self) -> dict[str, Mask]:
        """Current mask per weight (read-only arrays)."""
        return dict(self._maskset.masks)

    @property
    def sparsity(self) -> float:
        """Fraction of the pruned arrays' entries that are inactive."""
        return self._maskset.sparsity

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.target_sparsity!r}, "
            f"update_frequency={self.update_frequency}, "
            f"drop_fraction={self.drop_fraction!r}, end_step={self.end_step!r}, "
            f"distribution={self.allocation.distribution!r}, step={self.step})"
        )

    def drop_fraction_at(self, step: int) -> float:
        """The fraction of active connections dropped at `step`.

        ``alpha`` (constant) or ``alpha / 2 (1 + cos(pi t / T_end))`` (cosine),
        0 after ``end_step``.
        """
        end = self.end_step
        if end is None or step > end or step < 1:
            return 0.0
        if self.drop_fraction_anneal == "constant":
            return self.drop_fraction
        return self.drop_fraction / 2.0 * (1.0 + math.cos(math.pi * step / end))

    def is_update_step(self, step: int) -> bool:
        """True when the masks change after the optimizer step of `step`."""
        end = self.end_step
        return (
            end is not None
            and 1 <= step <= end
            and step % self.update_frequency == 0
            and self.drop_fraction_at(step) > 0.0
        )

    # ------------------------------------------------------------------ start
    def _initial_masks(self, live: dict[str, NDArray[Any]]) -> dict[str, Mask]:
        names = weight_names(self.model, self.weights)
        shapes = {n: live[n].shape for n in names}
        counts = self.allocation.keep_counts(shapes, self.target_sparsity)
        rng = np.random.default_rng((self.seed, 0))
        return {n: top_k_mask(rng.random(shapes[n]), counts[n]) for n in names}

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.model is None:
            raise RuntimeError(f"{type(self).__name__} has no model: use it in fit")
        self._restore()
        live = self.model.weights()
        if not self._maskset.masks:
            self._maskset = MaskSet(self._initial_masks(live))
        if self.end_step is None:
            p = self.params
            steps = p.get("steps", 0) * (p.get("epochs", 0) - p.get("initial_epoch", 0))
            self.end_step = int(0.75 * (self.step + steps))
        self._maskset.apply(live)
        self._maskset.apply_to_optimizer_state(getattr(self.model, "optimizer", None))
        self._publish()

    def _restore(self) -> None:
        """Load the state of the run this ``fit`` continues, if it is ours."""
        states = getattr(self.model, "callback_states", None) or {}
        saved = states.get(self.state_key)
        start = self.params.get("initial_epoch", 0)
        if saved is None or start == 0 or start != getattr(self.model, "epoch", None):
            return
        if (
            saved.get("class_name") == type(self).__name__
            and saved.get("config") == self.get_config()
        ):
            self.load_state_dict(saved)
            return
        config = saved.get("config")
        differ = sorted(
            k
            for k, v in self.get_config().items()
            if not isinstance(config, Mapping) or config.get(k) != v
        )
        warnings.warn(
            f"{type(self).__name__}: the run continued from epoch {start} was "
            f"trained with another configuration (differs in {differ}); its "
            f"state ({self.state_key!r}) is not restored: this callback goes on "
            "from its own (new random masks at step 0, if it is new)",
            RuntimeWarning,
            stacklevel=3,
        )

    def _publish(self) -> None:
        states = getattr(self.model, "callback_states", None)
        if isinstance(states, dict):
            states[self.state_key] = self.state_dict()

    # ------------------------------------------------------------------ steps
    def on_train_batch_begin(
        self, batch: int, logs: dict[str, Any] | None = None
    ) -> None:
        self.step += 1
        if self.is_update_step(self.step):
            # The update reads dense weights (and RigL the dense gradient of
            # every entry) and rewrites masks and slots: a dense step.
            self.sparse.stop()
        elif self.sparse.mode is not False:
            to_next = self.update_frequency - self.step % self.update_frequency
            self.sparse.update(
                self.model,
                self._maskset.masks,
                self.params.get("batch_size"),
                fixed_steps=to_next,
            )

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.sparse.stop()  # the dense kernels back, zeros where pruned

    def on_train_exception(self, exc: BaseException) -> None:
        self.sparse.stop()

    def on_before_optimizer_step(self) -> None:
        grads = self.model.gradients()
        if self.grow == "gradient" and self.is_update_step(self.step):
            # The dense gradient (every entry, active or not) is the growth
            # score; kept in one buffer per weight, reused across updates.
            for n in self._maskset.masks:
                buf = self._grads.get(n)
                if buf is None:
                    buf = self._grads[n] = np.empty_like(grads[n])
                np.abs(grads[n], out=buf)
        self._maskset.apply(grads)

    def on_after_optimizer_step(self) -> None:
        live = self.model.weights()
        optimizer = getattr(self.model, "optimizer", None)
        self._maskset.apply(live)
        self._maskset.apply_to_optimizer_state(optimizer)
        if self.is_update_step(self.step):
            self._update(live, optimizer)

    def _grow_scores(
        self, name: str, shape: tuple[int, ...], rng: np.random.Generator
    ) -> NDArray[Any]:
        """Scores of the candidate connections (higher = grown first)."""
        return rng.random(shape)

    def _update(self, live: dict[str, NDArray[Any]], optimizer: Any) -> None:
        fraction = self.drop_fraction_at(self.step)
        state = getattr(optimizer, "state", None) or {}
        rng = np.random.default_rng((self.seed, self.step))
        new = {}
        for name, old in self._maskset.masks.items():
            w = live[name]
            n_active = int(np.count_nonzero(old))
            # int(): the reference floors n_active * fraction
            n_drop = int(n_active * fraction)
            if n_drop == 0 or n_active == old.size:
                new[name] = old
                continue
            kept = top_k_mask(np.abs(w), n_active - n_drop, eligible=old)
            grown = top_k_mask(
                self._grow_scores(name, w.shape, rng), n_drop, eligible=~kept
            )
            mask = kept | grown
            fresh = grown & ~old  # new connections: start at zero, no state
            w[fresh] = 0
            for slot in state.get(name, {}).values():
                if isinstance(slot, np.ndarray) and slot.shape == w.shape:
                    slot[fresh] = 0
            new[name] = mask
        self._maskset = MaskSet(new)
        self._maskset.apply(live)
        self._maskset.apply_to_optimizer_state(optimizer)
        self.updates.append((self.step, fraction))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs["sparsity"] = self.sparsity
        self._publish()

    # ------------------------------------------------------------------ state
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-serialisable dict.

        ``end_step`` is the argument given (None for the default), not the
        value ``fit`` resolves it to (:attr:`end_step`; in :meth:`state_dict`).
        """
        return {
            "sparsity": self.target_sparsity,
            "update_frequency": self.update_frequency,
            "drop_fraction": self.drop_fraction,
            "end_step": self._end_step_arg,
            "distribution": self.allocation.distribution,
            "drop_fraction_anneal": self.drop_fraction_anneal,
            "weights": self.weights,
            "seed": self.seed,
        }

    @property
    def state_key(self) -> str:
        """This callback's key in ``model.callback_states``.

        ``"<class>:all"`` for every kernel, else ``"<class>:<names, sorted>"``.
        """
        names = "all" if self.weights is None else ",".join(sorted(self.weights))
        return f"{type(self).__name__}:{names}"

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs.

        Returns
        -------
        dict
            ``{"class_name", "config", "step", "end_step" (resolved, None
            before the first fit), "updates": [(step, fraction), ...],
            "masks": {name: bool ndarray}}``. The masks are the callback's
            read-only arrays, not copies: an update replaces them, never
            changes them in place.
        """
        return {
            "class_name": type(self).__name__,
            "config": self.get_config(),
            "step": self.step,
            "end_step": self.end_step,
            "updates": list(self.updates),
            "masks": dict(self._maskset.masks),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore step, resolved end step, update log and masks.

        Parameters
        ----------
        state : dict
            :meth:`state_dict` output of a callback of this class and
            configuration (``"end_step"`` and ``"updates"`` may be missing:
            the configured end step and no updates).

        Raises
        ------
        ValueError
            If the state is of another class or configuration, or malformed
            (step outside [0, 2**62], masks not bool, updates not
            ``(step, fraction)`` pairs).
        TypeError
            If a step or fraction is not a number.
        """
        name = type(self).__name__
        cls, config = state.get("class_name", name), state.get("config")
        if cls != name or config != self.get_config():
            raise ValueError(
                f"the state is for {cls}({config!r}); this one is "
                f"{name}({self.get_config()!r})"
            )
        step = validate_int("state['step']", state["step"], 0, MAX_STEP)
        end = state.get("end_step", self._end_step_arg)
        end = None if end is None else validate_int("state['end_step']", end, 0)
        updates = []
        for u in state.get("updates", []):
            if not isinstance(u, Sequence) or len(u) != 2:
                raise ValueError(
                    f"state['updates'] must hold (step, fraction); got {u!r}"
                )
            updates.append(
                (
                    validate_int("state['updates'] step", u[0], 1, step),
                    validate_float(
                        "state['updates'] fraction", u[1], 0.0, 1.0, high_open=False
                    ),
                )
            )
        masks = state["masks"]
        for n, m in masks.items():
            if np.asarray(m).dtype != np.bool_:
                raise ValueError(f"state['masks'][{n!r}] must be a bool array")
        self.step, self.end_step, self.updates = step, end, updates
        self._maskset = MaskSet(masks)


class RigL(DynamicSparsity):
    """RigL: drop the smallest |w|, grow where |gradient| is largest.

    Parameters
    ----------
    sparsity : float
        In [0, 1).
    update_frequency : int, default=100
        ``Delta T``.
    drop_fraction : float, default=0.3
        ``alpha``.
    end_step : int, optional
        ``T_end``; default 75 % of the first ``fit``'s steps.
    distribution : {'uniform', 'erk'} or Allocation, default='uniform'
    drop_fraction_anneal : {'cosine', 'constant'}, default='cosine'
    weights : list of str, optional
    seed : int, default=0
        Seeds the initial random masks.
    sparse_training : {'auto', 'measure', True, False}, default='auto'
        Between mask updates, train the masked layers on sparse kernels where
        that is faster (:class:`~sparsecore.prune.SparseTraining`); every
        update step itself runs dense.

    Notes
    -----
    At every step ``t`` with ``t mod Delta T = 0`` and ``t <= T_end``, in each
    layer with ``n`` active connections and drop fraction

    .. math:: f(t) = \\frac{\\alpha}{2}\\left(1 + \\cos\\frac{\\pi t}{T_{end}}\\right),

    RigL drops the ``k = floor(f(t) n)`` active weights of smallest ``|w|`` and
    activates the ``k`` inactive ones (the just-dropped included) of largest
    ``|dL/dw|``, the dense gradient of the current batch. New connections start
    at 0 with zero optimizer state. The masks start random; ``'erk'`` gives a
    layer density proportional to ``(n_in + n_out) / (n_in n_out)``.

    References
    ----------
    Evci, Gale, Menick, Castro & Elsen (2020), "Rigging the Lottery: Making All
    Tickets Winners", ICML, arXiv:1911.11134, Algorithm 1; reference code
    google-research/rigl (``sparse_optimizers.py``, ``SparseRigLOptimizer``).

    Examples
    --------
    >>> rigl = sc.prune.RigL(0.9, distribution="erk")  # doctest: +SKIP
    >>> model.fit(x, y, epochs=50, callbacks=[rigl])  # doctest: +SKIP
    """

    grow = "gradient"

    def __init__(
        self,
        sparsity: float,
        update_frequency: int = 100,
        drop_fraction: float = 0.3,
        end_step: int | None = None,
        distribution: str | Allocation = "uniform",
        *,
        drop_fraction_anneal: str = "cosine",
        weights: Sequence[str] | None = None,
        seed: int = 0,
        sparse_training: Any = "auto",
    ) -> None:
        super().__init__(
            sparsity,
            update_frequency,
            drop_fraction,
            end_step,
            distribution,
            drop_fraction_anneal=drop_fraction_anneal,
            weights=weights,
            seed=seed,
            sparse_training=sparse_training,
        )

    def _grow_scores(
        self, name: str, shape: tuple[int, ...], rng: np.random.Generator
    ) -> NDArray[Any]:
        return self._grads[name]


class SET(DynamicSparsity):
    """SET (Sparse Evolutionary Training): drop the smallest |w|, grow at random.

    Parameters
    ----------
    sparsity : float
        In [0, 1).
    update_frequency : int, default=100
        Steps between updates (the paper evolves once per epoch: pass the
        number of steps per epoch for that).
    drop_fraction : float, default=0.3
        ``zeta``, the paper's value.
    end_step : int, optional
        Default 75 % of the first ``fit``'s steps.
    distribution : {'uniform', 'erk'} or Allocation, default='uniform'
        The paper's Erdős–Rényi graphs correspond to ``'erk'`` for Dense layers.
    drop_fraction_anneal : {'constant', 'cosine'}, default='constant'
    weights : list of str, optional
    seed : int, default=0
        Seeds the initial masks and every random growth.
    sparse_training : {'auto', 'measure', True, False}, default='auto'
        Between mask updates, train the masked layers on sparse kernels where
        that is faster (:class:`~sparsecore.prune.SparseTraining`); every
        update step itself runs dense.

    Notes
    -----
    At each update every layer drops ``k = floor(zeta n)`` of its ``n`` active
    weights, those closest to zero (Mocanu et al. remove the smallest positive
    and the largest negative weights, i.e. the smallest ``|w|``), and
    activates ``k`` inactive connections drawn uniformly at random; they start
    at 0 with zero optimizer state.

    References
    ----------
    Mocanu, Mocanu, Stone, Nguyen, Gibescu & Liotta (2018), "Scalable training
    of artificial neural networks with adaptive sparse connectivity inspired by
    network science", Nature Communications 9, 2383; reference code
    google-research/rigl (``SparseSETOptimizer``).
    """
