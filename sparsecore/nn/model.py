"""``Sequential``: a stack of layers with a Keras-like training loop.

``forward`` runs the layers in order; ``backward`` runs them in reverse, each
layer filling its own ``grads``. ``fit`` is the loop around them: shuffle,
batch, forward, loss, backward, optimizer step, with callbacks at each stage
(see :mod:`sparsecore.nn.callbacks` for the exact order).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal, overload

import numpy as np

from sparsecore._checks import (
    cast_finite,
    finite_norm,
    is_int,
    validate_array,
    validate_bool,
    validate_choice,
    validate_float,
    validate_int,
    validate_seed,
    validate_type,
)
from sparsecore._text import format_table
from sparsecore.nn.activations import ACTIVATIONS
from sparsecore.nn.callbacks import Callback, CallbackList, History, ProgressLogger
from sparsecore.nn.layers import Dense, Layer, ResidualDense
from sparsecore.nn.losses import Loss, check_class_indices, get_loss
from sparsecore.nn.metrics import MetricFn, get_metrics
from sparsecore.nn.optimizers import Optimizer, get_optimizer

__all__ = ["LAYERS", "NonFiniteLossError", "Sequential"]

#: Layer classes by class name, for :meth:`Sequential.from_config`.
LAYERS: dict[str, type[Layer]] = {
    "Dense": Dense,
    "ResidualDense": ResidualDense,
    **{cls.__name__: cls for cls in ACTIVATIONS.values()},
}

_DTYPES = ("float32", "float64")
_PREDICT_CHUNK = 4096
_QUIET: dict[str, Any] = {"over": "ignore", "invalid": "ignore", "divide": "ignore"}


class _MetricTotals:
    """Weighted running means of the compiled metrics over batches.

    Each batch adds ``metric * W`` and ``W``, with ``W`` the sum of its sample
    weights (its size without weights), so the result is the metric's weighted
    mean over every sample seen, as Keras' metric state.
    """

    def __init__(self, metrics: Mapping[str, MetricFn]) -> None:
        self.metrics = metrics
        self.totals = dict.fromkeys(metrics, 0.0)
        self.weight = 0.0
        self.last: dict[str, float] = {}

    def update(self, y: np.ndarray, pred: np.ndarray, w: np.ndarray | None) -> None:
        weight = float(pred.shape[0]) if w is None else float(np.sum(w, dtype=float))
        for key, fn in self.metrics.items():
            # a user's metric without a sample_weight parameter still works
            value = float(fn(y, pred) if w is None else fn(y, pred, sample_weight=w))
            self.last[key] = value
            self.totals[key] += value * weight
        self.weight += weight

    def result(self) -> dict[str, float]:
        return {
            k: (t / self.weight if self.weight else 0.0) for k, t in self.totals.items()
        }


def _quiet(check_finite: bool) -> contextlib.AbstractContextManager[Any]:
    """NumPy's overflow warnings off when the finiteness checks report them."""
    return np.errstate(**_QUIET) if check_finite else contextlib.nullcontext()


class NonFiniteLossError(FloatingPointError):
    """The loss, a gradient or an update became NaN or infinite during ``fit``.

    Raised before the optimizer changes any weight, so the weights are those
    of the last step whose loss, gradients and update were finite. (The
    optimizer's slots, e.g. Adam's moments, may have taken the failed step.)
    """


class Sequential:
    """A linear stack of layers.

    Parameters
    ----------
    layers : sequence of Layer
        Built in order; each layer's input width is the previous output width.
    input_dim : int
        Number of input features ``n_in``.
    seed : int or None, default=None
        Seeds the weight initializers and, unless ``fit`` gets its own seed,
        the shuffling.
    dtype : {'float32', 'float64'}, default='float32'
        Dtype of every parameter; inputs are cast to it.

    Attributes
    ----------
    layers : list of Layer
    loss : Loss or None
        Set by :meth:`compile`.
    optimizer : Optimizer or None
        Set by :meth:`compile`.
    metrics : dict of str to callable
        Set by :meth:`compile`: the metric functions by log key, in order.
    metric_specs : list of str or callable
        The `metrics` argument of :meth:`compile`, as given (a checkpoint
        stores the names).
    stop_training : bool
        A callback sets it to end ``fit`` after the current epoch.
    pruner : Callback or None
        A pruning callback attaches itself here; ``fit`` then runs it even
        when it is not passed in `callbacks` again (until it is stripped).
    fit_seed : int or None
        Shuffling seed of the last ``fit``; a later ``fit`` without `seed`
        reuses it, so a resumed run sees the same batches.
    epoch : int
        Epochs completed so far (set just before ``on_epoch_end``): the
        `initial_epoch` to continue from.
    history : History or None
        The record of every epoch of every ``fit`` of this model (and of the
        run a checkpoint continues): what ``model.save`` keeps. Each ``fit``
        also returns a History of its own epochs only.
    callback_states : dict of str to dict
        State of callbacks that change the course of a run (EarlyStopping's
        best value, wait and best weights; ModelCheckpoint's best value;
        RigL's and SET's step, masks and update log), by callback; saved in
        checkpoints, so that a resumed run stops, saves and moves its masks
        where the uninterrupted one would.
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        input_dim: int,
        seed: int | None = None,
        dtype: str | np.dtype = "float32",
    ) -> None:
        if not isinstance(layers, Sequence) or len(layers) == 0:
            raise ValueError(
                f"layers must be a non-empty sequence of Layer; got {layers!r}"
            )
        for i, layer in enumerate(layers):
            validate_type(f"layers[{i}]", layer, Layer, "a Layer")
        if len({id(layer) for layer in layers}) != len(layers):
            raise ValueError("layers must not contain the same Layer object twice")
        self.input_dim = validate_int("input_dim", input_dim, 1)
        self.seed = validate_seed("seed", seed)
        try:
            dtype_name = np.dtype(dtype).name
        except TypeError:
            dtype_name = repr(dtype)
        validate_choice("dtype", dtype_name, _DTYPES)
        self.dtype = np.dtype(dtype)
        self.layers = list(layers)
        self.loss: Loss | None = None
        self.optimizer: Optimizer | None = None
        self.metrics: dict[str, MetricFn] = {}
        self.metric_specs: list[str | MetricFn] = []
        self.stop_training = False
        self.pruner: Any = None
        self.history: History | None = None
        self.fit_seed: int | None = None
        self.epoch = 0
        self.callback_states: dict[str, dict[str, Any]] = {}
        rng = np.random.default_rng(seed)
        counts: dict[str, int] = {}
        width = self.input_dim
        for layer in self.layers:
            layer.name = f"{layer.kind}_{counts.get(layer.kind, 0)}"
            counts[layer.kind] = counts.get(layer.kind, 0) + 1
            width = layer.build(width, rng, self.dtype)
        self.output_dim = width

    # ------------------------------------------------------------------ teaching view
    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        """Run every layer: ``(n_samples, input_dim) -> (n_samples, output_dim)``."""
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, grad_out: np.ndarray, need_grad_in: bool = True) -> np.ndarray:
        """Backpropagate ``dL/dy`` through the layers in reverse order.

        Fills every ``layer.grads`` and returns ``dL/dx`` of shape
        ``(n_samples, input_dim)`` (with ``need_grad_in=False`` the first layer
        skips that product, as ``fit`` does, and `grad` is not the input gradient).
        """
        grad = grad_out
        for i in range(len(self.layers) - 1, -1, -1):
            grad = self.layers[i].backward(grad, need_grad_in or i > 0)
        return grad

    # ------------------------------------------------------------------ weights
    def weights(self) -> dict[str, np.ndarray]:
        """Live parameter arrays by name, e.g. ``"dense_0/kernel"``.

        These are the arrays the optimizer trains, changed in place. For a
        Dense layer computing through a kernel operator
        (:meth:`~sparsecore.nn.layers.Dense.use_operator`), the kernel's
        entry is the operator's array, of the operator's shape;
        :meth:`get_weights` gives every parameter in its declared shape.
        """
        return {
            f"{layer.name}/{k}": v
            for layer in self.layers
            for k, v in layer.params.items()
        }

    def gradients(self) -> dict[str, np.ndarray]:
        """Live gradient arrays, same keys as :meth:`weights`."""
        return {
            f"{layer.name}/{k}": v
            for layer in self.layers
            for k, v in layer.grads.items()
        }

    def _params(self) -> list[tuple[str, Layer, str]]:
        """``(name, layer, key)`` of every parameter, in the order of weights()."""
        return [
            (f"{layer.name}/{k}", layer, k)
            for layer in self.layers
            for k in layer.params
        ]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the parameters in their declared shapes, in the order of
        :meth:`weights`."""
        return [layer.param_value(k) for _, layer, k in self._params()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Copy `weights` (declared shapes, the order of :meth:`weights`) into
        the live arrays."""
        params = self._params()
        if len(weights) != len(params):
            raise ValueError(
                f"weights must be a list of {len(params)} arrays; got {len(weights)}"
            )
        for (name, layer, key), src in zip(params, weights, strict=True):
            src = np.asarray(src)
            shape = layer.param_shape(key)
            if src.shape != shape:
                raise ValueError(
                    f"weights[{name!r}] must have shape {shape}; got {src.shape}"
                )
            layer.set_param_value(key, src)

    def count_params(self) -> int:
        """Number of parameters (of their declared shapes)."""
        return sum(math.prod(layer.param_shape(k)) for _, layer, k in self._params())

    def summary(self, print_fn: Any = print) -> str:
        """Print (and return) a table of layers, output shapes and parameter counts."""
        rows = [("Layer (type)", "Output shape", "Params")]
        for layer in self.layers:
            n = sum(math.prod(layer.param_shape(k)) for k in layer.params)
            rows.append(
                (
                    f"{layer.name} ({type(layer).__name__})",
                    f"(None, {layer.n_out})",
                    f"{n:,}",
                )
            )
        text = format_table(rows, "llr", rules=(1, len(rows)))
        text += f"\nTotal params: {self.count_params():,}"
        if print_fn is not None:
            print_fn(text)
        return text

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """Architecture as a JSON-serialisable dict (no weights)."""
        return {
            "input_dim": self.input_dim,
            "dtype": self.dtype.name,
            "seed": self.seed,
            "layers": [
                {"class_name": type(layer).__name__, "config": layer.get_config()}
                for layer in self.layers
            ],
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Sequential:
        """Rebuild an (untrained) model from :meth:`get_config` output."""
        layers = []
        for spec in config["layers"]:
            name = spec.get("class_name")
            if name not in LAYERS:
                raise ValueError(
                    f"layer class_name must be one of {sorted(LAYERS)}; got {name!r}"
                )
            layers.append(LAYERS[name](**spec.get("config", {})))
        return cls(
            layers, config["input_dim"], seed=config.get("seed"), dtype=config["dtype"]
        )

    def save(self, path: str | os.PathLike[str], compressed: bool = False) -> None:
        """Write a checkpoint that :func:`sparsecore.load_model` reads back.

        Architecture, weights, compile settings, optimizer state, shuffling
        seed, epoch reached, history and the attached pruner's state, in one
        ``.npz`` written atomically; see :func:`sparsecore.checkpoint.save_model`.
        """
        # A lazy import, the one nn makes of a stage above it: checkpoint
        # imports nn (and prune) itself, and nn must not depend on them.
        from sparsecore.checkpoint import save_model

        save_model(self, path, compressed=compressed)

    # ------------------------------------------------------------------ training
    def compile(
        self,
        loss: str | Loss = "mse",
        optimizer: str | Optimizer = "adam",
        metrics: Sequence[str | MetricFn] | None = None,
    ) -> None:
        """Set the loss, the optimizer (and create its slots) and the metrics.

        Parameters
        ----------
        loss : str or Loss, default='mse'
            E.g. ``"sparse_categorical_crossentropy"`` for integer labels.
        optimizer : str or Optimizer, default='adam'
        metrics : list of str or callable, optional
            Computed by ``fit`` (logged as ``"accuracy"``, ``"val_accuracy"``,
            ...) and ``evaluate(..., return_dict=True)``; see
            :mod:`sparsecore.nn.metrics` (``"accuracy"`` follows the loss).
        """
        self.loss = get_loss(loss)
        self.optimizer = get_optimizer(optimizer)
        self.metrics = get_metrics(metrics, self.loss)
        self.metric_specs = list(metrics or [])
        self.optimizer.build(self.weights())

    def _prepare_x(self, x: Any, name: str) -> np.ndarray:
        x = validate_array(name, x)
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(
                f"{name} must have shape (n_samples, {self.input_dim}); got {x.shape}"
            )
        if x.shape[0] == 0:
            raise ValueError(
                f"{name} must have at least one sample; got shape {x.shape}"
            )
        return cast_finite(x, name, self.dtype)

    def _prepare_y(self, y: Any, n: int, name: str) -> np.ndarray:
        if self.loss is not None and self.loss.integer_labels:
            return self._prepare_labels(y, n, name)
        y = validate_array(name, y)
        if y.ndim == 1 and self.output_dim == 1:
            y = y.reshape(-1, 1)
        if y.ndim != 2 or y.shape[1] != self.output_dim:
            raise ValueError(
                f"{name} must have shape (n_samples, {self.output_dim}); got {y.shape}"
            )
        if y.shape[0] != n:
            x_name = "x_val" if name == "y_val" else "x"
            raise ValueError(
                f"{x_name} and {name} must have the same length; "
                f"got {n} and {y.shape[0]}"
            )
        return cast_finite(y, name, self.dtype)

    def _prepare_labels(self, y: Any, n: int, name: str) -> np.ndarray:
        """Class indices for an integer-label loss: int64 of shape (n_samples,).

        Accepts shape (n_samples,) or (n_samples, 1), integers or floats with
        integral values, each in [0, output_dim).
        """
        y = validate_array(name, y, kinds="iuf")
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.reshape(-1)
        if y.ndim != 1:
            raise ValueError(
                f"{name} must hold class indices of shape (n_samples,) or "
                f"(n_samples, 1) for {type(self.loss).__name__}; got {y.shape}"
            )
        if y.shape[0] != n:
            x_name = "x_val" if name == "y_val" else "x"
            raise ValueError(
                f"{x_name} and {name} must have the same length; "
                f"got {n} and {y.shape[0]}"
            )
        return check_class_indices(name, y, self.output_dim, " (output_dim)").astype(
            np.int64, copy=False
        )

    def _prepare_weights(
        self,
        sample_weight: Any,
        class_weight: Any,
        y: np.ndarray,
        name: str = "sample_weight",
    ) -> np.ndarray | None:
        """Per-sample weights of shape (n_samples,) in the model's dtype, or None.

        From `sample_weight` itself, or from `class_weight` (``{class index:
        weight}``, 1.0 for classes it omits, as Keras) and the classes of the
        prepared `y`: the labels, else ``argmax`` of one-hot rows, else the
        rounded single output.
        """
        n = y.shape[0]
        if sample_weight is not None and class_weight is not None:
            raise ValueError(
                "pass class_weight or sample_weight, not both (as Keras); the "
                "product is sample_weight * class_weight[y] if you need it"
            )
        if sample_weight is not None:
            w = validate_array(name, sample_weight, kinds="iuf")
            if w.ndim == 2 and w.shape[1] == 1:
                w = w.reshape(-1)
            if w.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},); got {w.shape}")
            w = cast_finite(w, name, self.dtype)
            if (w < 0).any():
                raise ValueError(
                    f"{name} must hold weights in [0, inf); got {w[w < 0][0].item()!r}"
                )
            return w
        if class_weight is None:
            return None
        validate_type("class_weight", class_weight, Mapping, "a dict {class: weight}")
        table: dict[int, float] = {}
        for c, v in class_weight.items():
            if not is_int(c) or c < 0:
                raise ValueError(
                    f"class_weight keys must be class indices in [0, inf); got {c!r}"
                )
            table[int(c)] = validate_float(f"class_weight[{c!r}]", v, 0.0)
        if y.ndim == 1:
            classes = y.astype(np.int64)
        elif y.shape[1] > 1:
            classes = np.argmax(y, axis=1)
        else:
            classes = np.round(y[:, 0]).astype(np.int64)
            if (classes < 0).any():
                raise ValueError(
                    "class_weight needs class indices in [0, inf); y holds "
                    f"{y[classes < 0, 0][0].item()!r}"
                )
        size = max(max(table, default=0), int(classes.max(initial=0))) + 1
        lookup = np.ones(size, dtype=self.dtype)
        lookup[list(table)] = list(table.values())
        return lookup[classes]

    def _require_compiled(self) -> tuple[Loss, Optimizer]:
        if self.loss is None or self.optimizer is None:
            raise RuntimeError(
                "call model.compile(loss, optimizer) before fit/evaluate"
            )
        return self.loss, self.optimizer

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        epochs: int = 1,
        batch_size: int = 32,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
        shuffle: bool = True,
        callbacks: Sequence[Callback] | None = None,
        verbose: int = 1,
        seed: int | None = None,
        initial_epoch: int = 0,
        check_finite: bool = True,
        sample_weight: np.ndarray | None = None,
        class_weight: Mapping[int, float] | None = None,
    ) -> History:
        """Train for ``epochs - initial_epoch`` epochs of mini-batch steps.

        Parameters
        ----------
        x : ndarray of shape (n_samples, input_dim)
        y : ndarray of shape (n_samples, output_dim) or (n_samples,)
            For a loss with integer labels (``"sparse_categorical_crossentropy"``):
            class indices in [0, output_dim) of shape (n_samples,) or
            (n_samples, 1).
        epochs : int, default=1
            Index of the epoch to stop at (as Keras, counted from 0, not a count
            of epochs to run when `initial_epoch` > 0).
        batch_size : int, default=32
            The last batch of an epoch may be smaller.
        validation_data : tuple (x_val, y_val) or (x_val, y_val, sample_weight_val)
            Evaluated at the end of each epoch as ``"val_loss"`` (and
            ``"val_<metric>"`` for each compiled metric).
        shuffle : bool, default=True
            Reshuffle every epoch; epoch ``e`` uses
            ``np.random.default_rng((fit_seed, e))``, so a run resumed with
            `initial_epoch` sees the same batches.
        callbacks : list of Callback, optional
        verbose : int, default=1
            0 prints nothing; otherwise one line per epoch.
        seed : int, optional
            Shuffling seed, kept in ``model.fit_seed``; defaults to the seed of
            the previous ``fit`` (so a loaded checkpoint continues with its
            batches), else the model's seed, else a fresh random one.
        initial_epoch : int, default=0
            Epoch to start from, to continue an earlier run (a model loaded
            with :func:`sparsecore.load_model` has it in ``model.epoch``).
        check_finite : bool, default=True
            Raise :class:`NonFiniteLossError` (naming epoch and step) when a
            loss, a gradient or an update is NaN or infinite (or so large that
            it would overflow), before the optimizer changes any weight, and
            when the validation loss is not finite; refuse to start from
            non-finite weights. NumPy's overflow warnings inside
            forward/backward are then silenced, as the error reports them.
        sample_weight : ndarray of shape (n_samples,), optional
            Weights in [0, inf) that multiply each sample's loss; a batch's loss
            is ``sum_i w_i l_i / batch_size`` (Keras' ``sum_over_batch_size``),
            and metrics are weighted means ``sum_i w_i s_i / sum_i w_i``.
        class_weight : dict of int to float, optional
            ``{class index: weight}``: sample ``i`` gets the weight of its class
            (1.0 for classes not listed), as Keras. Classes are the labels of an
            integer-label loss, else ``argmax`` of one-hot `y`, else the rounded
            single output. Not together with `sample_weight`.

        Returns
        -------
        History
            ``history.history["loss"]`` (and every metric, ``"val_*"``), one
            float per epoch of this ``fit``. ``model.history`` keeps every
            epoch of every ``fit``.

        Raises
        ------
        NonFiniteLossError
            See `check_finite`.
        ValueError
            If an argument is invalid, or (with `check_finite`) a weight is
            not finite before training.
        """
        loss_fn, optimizer = self._require_compiled()
        epochs = validate_int("epochs", epochs, 0)
        initial_epoch = validate_int("initial_epoch", initial_epoch, 0)
        if initial_epoch > epochs:
            raise ValueError(
                f"initial_epoch must be an int in [0, {epochs}] (epochs); "
                f"got {initial_epoch!r}"
            )
        batch_size = validate_int("batch_size", batch_size, 1)
        x = self._prepare_x(x, "x")
        y = self._prepare_y(y, x.shape[0], "y")
        weights = self._prepare_weights(sample_weight, class_weight, y)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(
                validation_data
            ) not in (2, 3):
                raise ValueError(
                    "validation_data must be a tuple (x_val, y_val) or "
                    "(x_val, y_val, sample_weight_val)"
                )
            x_val = self._prepare_x(validation_data[0], "x_val")
            y_val = self._prepare_y(validation_data[1], x_val.shape[0], "y_val")
            w_val = self._prepare_weights(
                validation_data[2] if len(validation_data) == 3 else None,
                None,
                y_val,
                "sample_weight_val",
            )
            val = (x_val, y_val, w_val)
        if seed is None:  # the last fit's seed first, so a resumed run continues
            seed = self.fit_seed if self.fit_seed is not None else self.seed
        if seed is None:
            entropy = np.random.SeedSequence().entropy
            seed = int(entropy) % 2**63  # type: ignore[arg-type]  # an int here
        self.fit_seed = validate_int("seed", seed, 0)

        if check_finite:
            for name, w in self.weights().items():
                if not np.isfinite(w).all():
                    raise ValueError(
                        f"weights must be finite before fit; {name} holds NaN or inf"
                    )

        n = x.shape[0]
        steps = math.ceil(n / batch_size)
        history = History()
        # model.history is the record of every fit: this one's epochs are added.
        if self.history is None:
            self.history = History()
        extra: list[Callback] = [history, self.history]
        extra += [ProgressLogger()] if verbose else []
        user = list(callbacks or [])
        if self.pruner is not None and not any(cb is self.pruner for cb in user):
            # an attached pruner (e.g. restored by load_model) keeps pruning: a
            # fit without it would silently let pruned weights grow back
            user.insert(0, self.pruner)
        cbs = CallbackList([*user, *extra])
        cbs.set_model(self)
        cbs.set_params(
            {
                "epochs": epochs,
                "initial_epoch": initial_epoch,
                "steps": steps,
                "batch_size": batch_size,
                "samples": n,
                "verbose": verbose,
            }
        )
        optimizer.build(self.weights())
        self.stop_training = False
        cbs.on_train_begin()
        try:
            for epoch in range(initial_epoch, epochs):
                cbs.on_epoch_begin(epoch)
                rng = np.random.default_rng((self.fit_seed, epoch))
                order = rng.permutation(n) if shuffle else None
                total = 0.0
                tracker = _MetricTotals(self.metrics) if self.metrics else None
                for batch in range(steps):
                    sl = slice(batch * batch_size, min(n, (batch + 1) * batch_size))
                    idx = order[sl] if order is not None else sl
                    xb, yb = x[idx], y[idx]
                    wb = weights[idx] if weights is not None else None
                    cbs.on_train_batch_begin(batch)
                    batch_loss = self._train_step(
                        xb, yb, cbs, check_finite, epoch, batch, wb, tracker
                    )
                    total += batch_loss * (sl.stop - sl.start)
                    batch_logs = {"loss": batch_loss}
                    if tracker is not None:
                        batch_logs.update(tracker.last)
                    cbs.on_train_batch_end(batch, batch_logs)
                logs: dict[str, Any] = {"loss": total / n}
                if tracker is not None:
                    logs.update(tracker.result())
                if val is not None:
                    with _quiet(check_finite):
                        scores = self._evaluate_arrays(*val, _PREDICT_CHUNK)
                    logs.update({f"val_{k}": v for k, v in scores.items()})
                    if check_finite and not math.isfinite(logs["val_loss"]):
                        raise NonFiniteLossError(
                            f"val_loss became {logs['val_loss']} at epoch "
                            f"{epoch + 1} (the training loss and weights are "
                            "finite: the model overflows on the validation "
                            "data); pass check_finite=False to record it anyway"
                        )
                self.epoch = epoch + 1
                cbs.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
        except BaseException as exc:
            # Callbacks may undo what they set up for training (a kernel
            # operator gives the dense kernel back); the error propagates.
            cbs.on_train_exception(exc)
            raise
        cbs.on_train_end()
        return history

    def _train_step(
        self,
        xb: np.ndarray,
        yb: np.ndarray,
        cbs: CallbackList,
        check_finite: bool,
        epoch: int,
        batch: int,
        wb: np.ndarray | None = None,
        tracker: _MetricTotals | None = None,
    ) -> float:
        """Forward, loss, backward, optimizer step on one batch; return its loss.

        `wb` holds the batch's sample weights; `tracker` accumulates the
        metrics on the batch's predictions (before the update, as Keras).
        """
        loss_fn, optimizer = self._require_compiled()
        weighted = {} if wb is None else {"sample_weight": wb}
        # With check_finite the error below reports an overflow; without it,
        # NumPy's warnings are the only signal, so they are left alone.
        with _quiet(check_finite):
            pred = self.forward(xb)
            batch_loss = loss_fn.value(yb, pred, **weighted)
            where = f"at epoch {epoch + 1}, step {batch + 1}"
            if check_finite and not math.isfinite(batch_loss):
                raise NonFiniteLossError(
                    f"loss became {batch_loss} {where}; the weights are those of "
                    "the last finite step. Lower the learning rate or check the "
                    "data."
                )
            self.backward(loss_fn.gradient(yb, pred, **weighted), need_grad_in=False)
            grads = self.gradients()
            # A finite sum of squares (one dot product, the cheapest pass, no
            # allocation) means every entry is finite and below sqrt(max), so
            # that Adam's g * g cannot overflow either.
            if check_finite and not all(finite_norm(g) for g in grads.values()):
                raise NonFiniteLossError(
                    f"a gradient became NaN or inf {where} (or so large that its "
                    f"square overflows {self.dtype.name}); the weights are those "
                    "of the last finite step."
                )
            if tracker is not None:
                tracker.update(yb, pred, wb)
        cbs.on_before_optimizer_step()
        if not optimizer.apply(self.weights(), grads, check_finite=check_finite):
            raise NonFiniteLossError(
                f"the optimizer step {where} would make the weights NaN or inf "
                f"(a step or weight beyond sqrt of the {self.dtype.name} maximum); "
                "it was not applied: the weights are those of the last finite "
                "step. Lower the learning rate or check the data."
            )
        cbs.on_after_optimizer_step()
        return batch_loss

    @overload
    def evaluate(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int | None = ...,
        sample_weight: np.ndarray | None = ...,
        return_dict: Literal[False] = ...,
    ) -> float: ...

    @overload
    def evaluate(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int | None = ...,
        sample_weight: np.ndarray | None = ...,
        *,
        return_dict: Literal[True],
    ) -> dict[str, float]: ...

    def evaluate(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int | None = None,
        sample_weight: np.ndarray | None = None,
        return_dict: bool = False,
    ) -> float | dict[str, float]:
        """Mean loss (and metrics) over `x`, `y` (no callbacks, no state changes).

        Parameters
        ----------
        x : ndarray of shape (n_samples, input_dim)
        y : ndarray
            As in :meth:`fit`.
        batch_size : int, optional
            Samples per forward pass (4096 by default); the result does not
            depend on it beyond rounding.
        sample_weight : ndarray of shape (n_samples,), optional
            As in :meth:`fit`: the loss is ``sum_i w_i l_i / n_samples``, each
            metric ``sum_i w_i s_i / sum_i w_i``.
        return_dict : bool, default=False
            Return ``{"loss": ..., "<metric>": ...}`` instead of the loss alone.

        Returns
        -------
        float or dict of str to float
        """
        self._require_compiled()
        return_dict = validate_bool("return_dict", return_dict)
        x = self._prepare_x(x, "x")
        y = self._prepare_y(y, x.shape[0], "y")
        w = self._prepare_weights(sample_weight, None, y)
        chunk = (
            validate_int("batch_size", batch_size, 1) if batch_size else _PREDICT_CHUNK
        )
        scores = self._evaluate_arrays(x, y, w, chunk)
        return scores if return_dict else scores["loss"]

    def _evaluate_arrays(
        self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, chunk: int
    ) -> dict[str, float]:
        """Loss and metrics over prepared arrays, `chunk` samples at a time."""
        loss_fn, _ = self._require_compiled()
        tracker = _MetricTotals(self.metrics) if self.metrics else None
        total = 0.0
        for start in range(0, x.shape[0], chunk):
            xb, yb = x[start : start + chunk], y[start : start + chunk]
            pred = self.forward(xb, training=False)
            wb = None if w is None else w[start : start + chunk]
            total += loss_fn(yb, pred, wb) * xb.shape[0]
            if tracker is not None:
                tracker.update(yb, pred, wb)
        scores = {"loss": total / x.shape[0]}
        if tracker is not None:
            scores.update(tracker.result())
        return scores

    def predict(self, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Outputs ``(n_samples, output_dim)`` for `x`, computed in batches."""
        x = self._prepare_x(x, "x")
        chunk = (
            validate_int("batch_size", batch_size, 1) if batch_size else _PREDICT_CHUNK
        )
        out = np.empty((x.shape[0], self.output_dim), dtype=self.dtype)
        for start in range(0, x.shape[0], chunk):
            out[start : start + chunk] = self.forward(
                x[start : start + chunk], training=False
            )
        return out

    def __repr__(self) -> str:
        return (
            f"Sequential({self.layers!r}, input_dim={self.input_dim}, "
            f"dtype={self.dtype.name!r})"
        )
