"""Compaction: remove the hidden neurons that pruning made useless."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .activations import ACTIVATION_FUNCTIONS

__all__ = ["compact_layers"]


def compact_layers(
    layers: Sequence[tuple[np.ndarray, np.ndarray, str, float]],
) -> list[tuple[np.ndarray, np.ndarray, str, float]]:
    """Remove the hidden neurons that cannot change the output.

    Parameters
    ----------
    layers : sequence of (kernel, bias, activation, alpha)
        ``kernel`` of shape ``(n_in, n_out)``, ``bias`` of shape ``(n_out,)``.

    Returns
    -------
    list of (kernel, bias, activation, alpha)
        The compacted layers (new arrays); the first layer's inputs and the
        last layer's outputs are unchanged.

    Notes
    -----
    Applied to the outputs of every layer but the last, until nothing changes:

    - a neuron whose outgoing weights (its row of the next kernel) are all
      zero never reaches the output: it is removed;
    - a neuron whose incoming weights (its column of the kernel) are all zero
      outputs the constant ``c = act(bias)``; ``c * next_kernel[j]`` is added
      to the next bias (in float64, then rounded) and the neuron is removed.

    Neurons of a softmax layer are kept (softmax couples them). Outputs are
    preserved exactly up to rounding.
    """
    ks = [np.array(k) for k, _, _, _ in layers]
    bs = [np.array(b) for _, b, _, _ in layers]
    acts = [(a, al) for _, _, a, al in layers]
    changed = True
    while changed:
        changed = False
        for i in range(len(ks) - 1):
            if acts[i][0] == "softmax":
                continue
            dead_out = ~np.any(ks[i + 1] != 0, axis=1)
            dead_in = ~np.any(ks[i] != 0, axis=0)
            remove = dead_out | dead_in
            if not remove.any():
                continue
            const = dead_in & ~dead_out
            if const.any():
                c = bs[i][const].astype(np.float64)
                ACTIVATION_FUNCTIONS[acts[i][0]](c, acts[i][1])
                fold = bs[i + 1].astype(np.float64) + c @ ks[i + 1][const].astype(
                    np.float64
                )
                bs[i + 1] = fold.astype(bs[i + 1].dtype)
            keep = ~remove
            ks[i] = ks[i][:, keep]
            bs[i] = bs[i][keep]
            ks[i + 1] = ks[i + 1][keep]
            changed = True
    return [(k, b, a, al) for k, b, (a, al) in zip(ks, bs, acts, strict=True)]
