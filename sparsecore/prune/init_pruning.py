"""Pruning at initialization: SNIP, GraSP and SynFlow masks, before any training.

Each method scores every weight of a freshly initialised model, and the
masks keep the best-scoring ones (shared among layers by an allocation of
:mod:`sparsecore.prune.allocation`; ``scope='global'`` by default, as the
papers). The model is then trained from its initial weights with the masks
fixed (``sc.Pruner(masks=...)``).

========  ====================================  ===================  ==========
method    score of weight ``theta``             needs                kept
========  ====================================  ===================  ==========
SNIP      ``|g * theta|``                       a batch (x, y)       highest
GraSP     ``S = -theta * (H g)``                a batch (x, y)       lowest S
SynFlow   ``|dR/dtheta * theta|``, iterated      nothing (data-free)  highest
========  ====================================  ===================  ==========

``g`` is the gradient of the compiled loss on the batch, ``H`` its Hessian and
``R = 1^T (prod_l |W_l|) 1`` the synaptic flow. All scores are computed on a
float64 copy of the model (:func:`~sparsecore.prune.clone.clone_model`); the
model itself is never modified. :func:`layer_collapse` tells whether a set of
masks still connects the input to the output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sparsecore._checks import (
    validate_float,
    validate_int,
    validate_sparsity,
    validate_type,
)
from sparsecore.nn.model import Sequential
from sparsecore.prune.allocation import Allocation, allocate_masks, as_allocation
from sparsecore.prune.clone import clone_model, prepare_data, weight_names

__all__ = [
    "connected_inputs",
    "grasp_masks",
    "grasp_scores",
    "hessian_gradient_product",
    "layer_collapse",
    "loss_gradients",
    "snip_masks",
    "snip_scores",
    "synflow_masks",
    "synflow_scores",
]

Mask = NDArray[np.bool_]
Arrays = dict[str, NDArray[np.float64]]

_CHUNK = 4096


def _work_copy(model: Sequential) -> Sequential:
    validate_type("model", model, Sequential, "a Sequential")
    if model.loss is None:
        raise RuntimeError("model must be compiled (its loss is used) before scoring")
    return clone_model(model, dtype="float64", compile=False)


def _gradients(
    net: Sequential,
    loss: Any,
    x: NDArray[Any],
    y: NDArray[Any],
    names: Sequence[str],
    temperature: float,
) -> tuple[float, Arrays]:
    """Mean loss of ``loss(y, net(x) / T)`` and its gradient for `names`."""
    n = x.shape[0]
    total = 0.0
    grads = {name: np.zeros_like(net.weights()[name]) for name in names}
    live = net.gradients()
    for start in range(0, n, _CHUNK):
        xb, yb = x[start : start + _CHUNK], y[start : start + _CHUNK]
        share = xb.shape[0] / n  # the mean over x is the weighted mean of chunks
        z = net.forward(xb, training=False) / temperature
        total += loss.value(yb, z) * share
        net.backward(loss.gradient(yb, z) * (share / temperature), need_grad_in=False)
        for name in names:
            grads[name] += live[name]
    return total, grads


def loss_gradients(
    model: Sequential,
    x: Any,
    y: Any,
    *,
    weights: Sequence[str] | None = None,
    temperature: float = 1.0,
) -> dict[str, NDArray[np.float64]]:
    """Gradient of the compiled loss, averaged over ``(x, y)``, in float64.

    Parameters
    ----------
    model : Sequential
        Compiled; not modified (a float64 copy computes the gradient).
    x : ndarray of shape (n_samples, input_dim)
    y : ndarray
        Targets as ``fit`` takes them.
    weights : list of str, optional
        Weight names; default every kernel.
    temperature : float, default=1.0
        The loss sees ``model(x) / temperature`` (GraSP's ``T``).

    Returns
    -------
    dict of str to ndarray (float64)
        ``dL/dtheta`` for each name, the shape of the weight.
    """
    net = _work_copy(model)
    names = weight_names(net, weights)
    temperature = validate_float("temperature", temperature, 0.0, low_open=True)
    xp, yp = prepare_data(model, x, y, "float64")
    return _gradients(net, model.loss, xp, yp, names, temperature)[1]


def snip_scores(
    model: Sequential,
    x: Any,
    y: Any,
    *,
    weights: Sequence[str] | None = None,
) -> dict[str, NDArray[np.float64]]:
    """SNIP's connection sensitivity ``|g * theta|`` of every pruned weight.

    Parameters
    ----------
    model : Sequential
        Compiled, at initialization; not modified.
    x : ndarray of shape (n_samples, input_dim)
        The batch the scores are computed on (the paper uses one mini-batch).
    y : ndarray
    weights : list of str, optional
        Default every kernel.

    Returns
    -------
    dict of str to ndarray (float64)
        ``|dL/dtheta * theta|`` per weight (unnormalised: dividing by the sum,
        as the paper does, changes no ranking).

    Notes
    -----
    With a mask ``c`` multiplying the weights, ``w = c * theta``, Lee et al.
    define the sensitivity of connection ``j`` at ``c = 1`` as

    .. math::

        s_j = \\frac{|\\partial L / \\partial c_j|}
                     {\\sum_k |\\partial L / \\partial c_k|}
            = \\frac{|g_j \\theta_j|}{\\sum_k |g_k \\theta_k|},
        \\qquad g = \\nabla_\\theta L(\\theta; x, y).

    References
    ----------
    Lee, Ajanthan & Torr (2019), "SNIP: Single-shot Network Pruning based on
    Connection Sensitivity", ICLR, arXiv:1810.02340; reference code
    namhoonlee/snip-public.
    """
    net = _work_copy(model)
    names = weight_names(net, weights)
    xp, yp = prepare_data(model, x, y, "float64")
    _, grads = _gradients(net, model.loss, xp, yp, names, 1.0)
    live = net.weights()
    return {n: np.abs(grads[n] * live[n]) for n in names}


def snip_masks(
    model: Sequential,
    x: Any,
    y: Any,
    sparsity: float,
    scope: str | Allocation = "global",
    *,
    weights: Sequence[str] | None = None,
) -> dict[str, Mask]:
    """SNIP masks: keep the weights of highest ``|g * theta|`` (Lee et al. 2019).

    Parameters
    ----------
    model : Sequential
        Compiled, at initialization; not modified.
    x, y : ndarray
        One batch of training data (see :func:`snip_scores`).
    sparsity : float
        In [0, 1).
    scope : {'global', 'uniform', 'layer', 'erk'} or Allocation, default='global'
        How the sparsity is shared among layers (the paper ranks globally).
    weights : list of str, optional
        Default every kernel.

    Returns
    -------
    dict of str to bool ndarray
        ``{kernel name: mask}``, True = kept, like
        :func:`~sparsecore.prune.global_magnitude_masks`.

    Notes
    -----
    See :func:`snip_scores` for the formula. A global ranking can prune a
    whole layer at high sparsity (layer collapse, see :func:`layer_collapse`),
    which SynFlow was designed to avoid.
    """
    sparsity = validate_sparsity("sparsity", sparsity)
    alloc = as_allocation(scope)
    return allocate_masks(snip_scores(model, x, y, weights=weights), sparsity, alloc)


def hessian_gradient_product(
    model: Sequential,
    x: Any,
    y: Any,
    *,
    weights: Sequence[str] | None = None,
    temperature: float = 1.0,
    eps: float = 1e-5,
) -> tuple[Arrays, Arrays]:
    """The gradient ``g`` and the Hessian-gradient product ``H g``, for `weights`.

    Parameters
    ----------
    model : Sequential
        Compiled; not modified.
    x, y : ndarray
        The batch the loss is averaged over.
    weights : list of str, optional
        The weights ``theta`` that ``g`` and ``H`` are taken over (the rest is
        held fixed); default every kernel.
    temperature : float, default=1.0
        The loss sees ``model(x) / temperature``.
    eps : float, default=1e-5
        Relative step of the finite difference (see Notes), in (0, 1).

    Returns
    -------
    g, hg : dict of str to ndarray (float64)

    Notes
    -----
    sparsecore's layers have hand-written first derivatives only, so ``H g``
    is computed by a central finite difference of gradients along ``g``, in
    float64, rather than by a second backward pass (the reference code uses
    ``torch.autograd.grad(..., create_graph=True)``):

    .. math::

        H g \\approx \\frac{\\nabla L(\\theta + h\\, \\hat g) -
        \\nabla L(\\theta - h\\, \\hat g)}{2 h} \\, \\lVert g \\rVert, \\qquad
        \\hat g = g / \\lVert g \\rVert, \\quad
        h = \\mathrm{eps} \\cdot \\max(1, \\lVert \\theta \\rVert).

    The truncation error is ``O(h^2)`` for smooth activations; with ReLU the
    difference is exact unless a unit changes sign within ``+-h`` (rare for a
    step this small). Cost: three gradient evaluations.
    """
    net = _work_copy(model)
    names = weight_names(net, weights)
    temperature = validate_float("temperature", temperature, 0.0, low_open=True)
    eps = validate_float("eps", eps, 0.0, 1.0, low_open=True)
    xp, yp = prepare_data(model, x, y, "float64")
    _, g = _gradients(net, model.loss, xp, yp, names, temperature)
    live = net.weights()
    theta = {n: live[n].copy() for n in names}
    g_norm = float(np.sqrt(sum(float(np.sum(g[n] ** 2)) for n in names)))
    if g_norm == 0.0:
        return g, {n: np.zeros_like(g[n]) for n in names}
    t_norm = float(np.sqrt(sum(float(np.sum(theta[n] ** 2)) for n in names)))
    h = eps * max(1.0, t_norm)
    step = h / g_norm
    for n in names:
        live[n][...] = theta[n] + step * g[n]
    _, g_plus = _gradients(net, model.loss, xp, yp, names, temperature)
    for n in names:
        live[n][...] = theta[n] - step * g[n]
    _, g_minus = _gradients(net, model.loss, xp, yp, names, temperature)
    for n in names:
        live[n][...] = theta[n]
    hg = {n: (g_plus[n] - g_minus[n]) * (g_norm / (2.0 * h)) for n in names}
    return g, hg


def grasp_scores(
    model: Sequential,
    x: Any,
    y: Any,
    *,
    weights: Sequence[str] | None = None,
    temperature: float = 200.0,
    eps: float = 1e-5,
) -> dict[str, NDArray[np.float64]]:
    """GraSP's score ``S(-theta) = -theta * (H g)``; the *lowest* scores are kept.

    Parameters
    ----------
    model : Sequential
        Compiled, at initialization; not modified.
    x, y : ndarray
        A batch of training data (the reference takes 10 samples per class).
    weights : list of str, optional
        Default every kernel.
    temperature : float, default=200.0
        The loss sees ``model(x) / T`` (the reference's ``T = 200``), which
        keeps the softmax away from saturation at initialization.
    eps : float, default=1e-5
        Finite-difference step, see :func:`hessian_gradient_product`.

    Returns
    -------
    dict of str to ndarray (float64)
        ``S`` per weight. Removing weights with large ``S`` reduces the
        gradient flow least (or increases it).

    Notes
    -----
    Wang et al. preserve the gradient flow ``Delta L = -g^T g``. To first
    order, removing weights (``delta = -theta`` on the removed entries)
    changes it by ``-2 delta^T H g``, giving the score

    .. math:: S(-\\theta) = -\\theta \\odot H g .

    Weights with the highest ``S`` are removed. ``H g`` is computed by finite
    differences of gradients (see :func:`hessian_gradient_product`), not by a
    second backward pass.

    References
    ----------
    Wang, Zhang & Grosse (2020), "Picking Winning Tickets Before Training by
    Preserving Gradient Flow", ICLR, arXiv:2002.07376; reference code
    alecwangcq/GraSP (``pruner/GraSP.py``).
    """
    g, hg = hessian_gradient_product(
        model, x, y, weights=weights, temperature=temperature, eps=eps
    )
    live = model.weights()
    return {n: -live[n].astype(np.float64) * hg[n] for n in g}


def grasp_masks(
    model: Sequential,
    x: Any,
    y: Any,
    sparsity: float,
    scope: str | Allocation = "global",
    *,
    weights: Sequence[str] | None = None,
    temperature: float = 200.0,
    eps: float = 1e-5,
) -> dict[str, Mask]:
    """GraSP masks: remove the weights of highest ``-theta * (H g)`` (Wang et al. 2020).

    Parameters
    ----------
    model : Sequential
        Compiled, at initialization; not modified.
    x, y : ndarray
        A batch of training data.
    sparsity : float
        In [0, 1).
    scope : {'global', 'uniform', 'layer', 'erk'} or Allocation, default='global'
    weights : list of str, optional
    temperature, eps : float
        See :func:`grasp_scores`.

    Returns
    -------
    dict of str to bool ndarray
        True = kept: the entries of lowest ``S``.

    Notes
    -----
    The Hessian-gradient product comes from finite differences of gradients
    (three gradient evaluations), documented in
    :func:`hessian_gradient_product`.
    """
    sparsity = validate_sparsity("sparsity", sparsity)
    alloc = as_allocation(scope)
    scores = grasp_scores(
        model, x, y, weights=weights, temperature=temperature, eps=eps
    )
    return allocate_masks({n: -s for n, s in scores.items()}, sparsity, alloc)


def _synflow_pass(net: Sequential, names: Sequence[str]) -> Arrays:
    """``|dR/dtheta * theta|`` with R = sum(net(1)) for the current weights."""
    ones = np.ones((1, net.input_dim), dtype=np.float64)
    out = net.forward(ones, training=False)
    net.backward(np.ones_like(out), need_grad_in=False)
    live, grads = net.weights(), net.gradients()
    return {n: np.abs(grads[n] * live[n]) for n in names}


def synflow_scores(
    model: Sequential,
    masks: Mapping[str, Any] | None = None,
    *,
    weights: Sequence[str] | None = None,
) -> dict[str, NDArray[np.float64]]:
    """SynFlow's score ``|dR/dtheta * theta|`` with all parameters made positive.

    Parameters
    ----------
    model : Sequential
        Not modified; needs no data and no loss.
    masks : dict of str to bool ndarray, optional
        Pruned weights count as zero (their score is then 0).
    weights : list of str, optional
        Default every kernel (or the keys of `masks`).

    Returns
    -------
    dict of str to ndarray (float64)

    Notes
    -----
    Every parameter (biases too, as the reference's ``linearize``) is
    replaced by its absolute value and an all-ones input is fed through the
    network; for a ReLU network all pre-activations are then positive and the
    network is linear, so

    .. math::

        R = \\mathbf{1}^T \\Big(\\prod_{l} |W_l|\\Big) \\mathbf{1}
        \\text{ (without biases)}, \\qquad
        S(\\theta) = \\Big|\\frac{\\partial R}{\\partial \\theta} \\odot
        \\theta\\Big|,

    and ``S`` of weight ``(i, j)`` of layer ``l`` is the summed product of
    |weights| over every input-output path through it. Computed in float64.

    References
    ----------
    Tanaka, Kunin, Yamins & Ganguli (2020), "Pruning neural networks without
    any data by iteratively conserving synaptic flow", NeurIPS,
    arXiv:2006.05467; reference code ganguli-lab/Synaptic-Flow
    (``Pruners/pruners.py``, ``prune.py``).
    """
    validate_type("model", model, Sequential, "a Sequential")
    net = clone_model(model, dtype="float64", compile=False)
    if weights is None and masks is not None:
        weights = list(masks)
    names = weight_names(net, weights)
    live = net.weights()
    for a in live.values():
        np.abs(a, out=a)
    if masks is not None:
        for n in names:
            m = np.asarray(masks[n])
            if m.dtype != np.bool_ or m.shape != live[n].shape:
                raise ValueError(
                    f"masks[{n!r}] must be a bool array of shape {live[n].shape}"
                )
            live[n] *= m
    return _synflow_pass(net, names)


def synflow_masks(
    model: Sequential,
    sparsity: float,
    iterations: int = 100,
    scope: str | Allocation = "global",
    *,
    weights: Sequence[str] | None = None,
) -> dict[str, Mask]:
    """SynFlow masks, data-free: prune iteratively, conserving synaptic flow.

    Parameters
    ----------
    model : Sequential
        At initialization; not modified. No data and no loss are needed.
    sparsity : float
        Final sparsity, in [0, 1).
    iterations : int, default=100
        Pruning rounds; round ``k`` (1-based) prunes to density
        ``(1 - sparsity) ** (k / iterations)`` (the reference's exponential
        schedule), re-scoring the surviving weights each time.
    scope : {'global', 'uniform', 'layer', 'erk'} or Allocation, default='global'
    weights : list of str, optional
        Default every kernel.

    Returns
    -------
    dict of str to bool ndarray
        True = kept; each round's mask is nested in the previous one.

    Notes
    -----
    One round: set the pruned weights to zero, score the rest with
    :func:`synflow_scores` and keep the best ``k`` (global ranking). A single
    round is SynFlow's one-shot variant. Tanaka et al. prove that with the
    positive-parameter flow ``R`` the total score of every layer equals ``R``
    (conservation), so iterative pruning cannot remove a whole layer while
    another still has weights to spare: it avoids the layer collapse that
    gradient-based scores (SNIP, GraSP) suffer at extreme sparsity.
    """
    sparsity = validate_sparsity("sparsity", sparsity)
    iterations = validate_int("iterations", iterations, 1)
    alloc = as_allocation(scope)
    validate_type("model", model, Sequential, "a Sequential")
    net = clone_model(model, dtype="float64", compile=False)
    names = weight_names(net, weights)
    live = net.weights()
    for a in live.values():
        np.abs(a, out=a)
    theta = {n: live[n].copy() for n in names}
    masks = {n: np.ones(theta[n].shape, dtype=bool) for n in names}
    for k in range(1, iterations + 1):
        for n in names:
            np.multiply(theta[n], masks[n], out=live[n])
        scores = _synflow_pass(net, names)
        s_k = (
            sparsity if k == iterations else 1.0 - (1.0 - sparsity) ** (k / iterations)
        )
        masks = allocate_masks(scores, s_k, alloc, prev_masks=masks)
    return masks


def _chain(masks: Mapping[str, Any]) -> list[NDArray[np.bool_]]:
    if not isinstance(masks, Mapping) or not masks:
        raise ValueError("masks must be a non-empty dict of bool arrays")
    chain: list[NDArray[np.bool_]] = []
    for n, m in masks.items():
        a = np.asarray(m)
        if a.dtype != np.bool_ or a.ndim != 2:
            raise ValueError(f"masks[{n!r}] must be a 2-D bool array (n_in, n_out)")
        if chain and chain[-1].shape[1] != a.shape[0]:
            raise ValueError(
                f"masks must chain kernels (n_in, n_out) -> (n_out, ...); "
                f"masks[{n!r}] has shape {a.shape} after {chain[-1].shape}"
            )
        chain.append(a)
    return chain


def connected_inputs(masks: Mapping[str, Any]) -> NDArray[np.bool_]:
    """Inputs that still reach an output through kept weights.

    Parameters
    ----------
    masks : dict of str to bool ndarray
        Kernel masks ``(n_in, n_out)`` of consecutive Dense layers, in order.

    Returns
    -------
    bool ndarray of shape (n_in of the first kernel,)
        True where some path of kept weights leads from the input to an output.
    """
    chain = _chain(masks)
    alive = np.ones(chain[-1].shape[1], dtype=bool)
    for m in reversed(chain):
        # unit i of this layer's input is alive if it feeds a live unit
        alive = (m.astype(np.int64) @ alive.astype(np.int64)) > 0
    return alive


def layer_collapse(masks: Mapping[str, Any]) -> bool:
    """True when the masks disconnect the input from the output.

    A fully pruned layer is the common case (Tanaka et al.'s *layer collapse*);
    masks whose kept weights form no complete input-output path count too.
    The network's output is then a constant (its biases), whatever the input.

    Parameters
    ----------
    masks : dict of str to bool ndarray
        Kernel masks of consecutive Dense layers, in order.

    Returns
    -------
    bool
    """
    return not bool(connected_inputs(masks).any())
