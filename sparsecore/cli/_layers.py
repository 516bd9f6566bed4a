"""The layers of a fully connected network, read from its weights' names and shapes.

Exported weights name each Linear/Dense layer's arrays after the layer:
PyTorch ``0.weight``, ``0.bias``, ``2.weight``, ... or ``fc1.weight``
(``state_dict`` names, kernel ``(out, in)``); Keras ``dense/kernel``,
``dense/bias``, ``dense_1/kernel``, ... (kernel ``(in, out)``, TensorFlow may
add ``:0``). :func:`infer_layers` finds them: the 2-D ``weight``/``kernel``
arrays are the layers, the ``bias`` beside each is its bias, the layout
(``torch`` or ``keras``) follows from the names unless given, and the order is
the names' natural order (``fc2`` before ``fc10``; ``dense`` before
``dense_1``), or else the file's order, whichever makes the shapes chain.
``sparsecore deploy`` builds a model from them and ``sparsecore prune`` uses
them to find the last layer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sparsecore.runtime.npz import printable

__all__ = ["LAYOUTS", "LayerError", "LayerSource", "infer_layers", "split_name"]

LAYOUTS = ("keras", "torch")
_WEIGHT_LEAVES = {"weight": "torch", "kernel": "keras"}
_TOKEN = re.compile(r"[0-9]+|[^0-9]+")


class LayerError(ValueError):
    """The weights do not describe a chain of Linear/Dense layers (one line)."""


@dataclass(frozen=True)
class LayerSource:
    """Where one Linear/Dense layer's arrays are, and how they are laid out.

    Attributes
    ----------
    prefix : str
        The layer's name (``"0"``, ``"fc1"``, ``"dense_1"``).
    weight : str
        The name of its 2-D weight array.
    bias : str or None
        The name of its bias (None: the layer has none).
    layout : {'keras', 'torch'}
        ``'torch'``: the weight is ``(out, in)``; ``'keras'``: ``(in, out)``.
    stored : tuple of int
        The weight's shape as stored.
    """

    prefix: str
    weight: str
    bias: str | None
    layout: str
    stored: tuple[int, int]

    @property
    def kernel_shape(self) -> tuple[int, int]:
        """``(n_in, n_out)``."""
        a, b = self.stored
        return (b, a) if self.layout == "torch" else (a, b)

    @property
    def output_axis(self) -> int:
        """The weight's axis that indexes the output units."""
        return 0 if self.layout == "torch" else 1

    def describe(self) -> str:
        """``"'0.weight' (256x64, (out, in): 64 -> 256)"``, for messages."""
        n_in, n_out = self.kernel_shape
        how = "(out, in)" if self.layout == "torch" else "(in, out)"
        shape = "x".join(map(str, self.stored))
        return f"{printable(self.weight)!r} ({shape}, {how}: {n_in} -> {n_out})"


def split_name(name: str) -> tuple[str, str]:
    """``(prefix, leaf)`` at the last ``.`` or ``/``; a TensorFlow ``:0`` is dropped.

    >>> split_name("encoder.0.weight"), split_name("dense_1/kernel:0")
    (('encoder.0', 'weight'), ('dense_1', 'kernel'))
    """
    base = re.sub(r":[0-9]+$", "", name)
    cut = max(base.rfind("."), base.rfind("/"))
    return (base[:cut], base[cut + 1 :]) if cut >= 0 else ("", base)


def _natural(prefix: str) -> list[tuple[int, int, str]]:
    # digits compare as numbers: fc2 < fc10, and "dense" < "dense_1"
    return [
        (0, int(t), "") if t.isdigit() else (1, 0, t) for t in _TOKEN.findall(prefix)
    ]


def _chain_break(layers: Sequence[LayerSource]) -> str | None:
    """Why the shapes do not chain (the first break), or None if they do."""
    for a, b in zip(layers, layers[1:], strict=False):
        if a.kernel_shape[1] != b.kernel_shape[0]:
            return (
                f"shapes do not chain: {a.describe()} has {a.kernel_shape[1]} "
                f"outputs, but the next layer {b.describe()} takes "
                f"{b.kernel_shape[0]} inputs"
            )
    return None


def infer_layers(
    shapes: Mapping[str, tuple[int, ...]], layout: str | None = None
) -> tuple[list[LayerSource], list[str]]:
    """Find the Linear/Dense layers among named arrays, in forward order.

    Parameters
    ----------
    shapes : mapping of str to tuple of int
        Every array's shape, by name, in the file's order.
    layout : {'keras', 'torch'}, optional
        How the weights are laid out; default: from the names (``weight``:
        torch, ``kernel``: keras).

    Returns
    -------
    layers : list of LayerSource
        At least one, in the order the shapes chain.
    others : list of str
        The names that are neither a layer's weight nor its bias.

    Raises
    ------
    LayerError
        If no layer is found, the names mix both layouts (without `layout`),
        a bias does not match its weight, or the shapes chain in neither the
        names' nor the file's order.
    """
    weights = {
        n: split_name(n)
        for n, s in shapes.items()
        if len(s) == 2 and split_name(n)[1] in _WEIGHT_LEAVES
    }
    if not weights:
        raise LayerError(
            "no Linear/Dense weight found: expected 2-D arrays named like "
            "'0.weight', 'fc1.weight' (PyTorch) or 'dense/kernel' (Keras)"
        )
    if layout is None:
        found = {_WEIGHT_LEAVES[leaf] for _, leaf in weights.values()}
        if len(found) > 1:
            raise LayerError(
                "the names mix PyTorch ('*.weight') and Keras ('*/kernel') "
                "layers; say which with --layout torch or --layout keras"
            )
        layout = found.pop()
    biases = {split_name(n): n for n, s in shapes.items() if split_name(n)[1] == "bias"}
    layers: list[LayerSource] = []
    used: set[str] = set()
    for name, (prefix, _) in weights.items():
        src = LayerSource(
            prefix,
            name,
            biases.get((prefix, "bias")),
            layout,
            (int(shapes[name][0]), int(shapes[name][1])),
        )
        if src.bias is not None:
            n_out = src.kernel_shape[1]
            if tuple(shapes[src.bias]) != (n_out,):
                other = "keras" if layout == "torch" else "torch"
                hint = (
                    f"; is the layout {other}? (--layout {other})"
                    if tuple(shapes[src.bias]) == (src.kernel_shape[0],)
                    else ""
                )
                got = tuple(shapes[src.bias])
                raise LayerError(
                    f"{printable(src.bias)!r} has shape {got}, but the bias of "
                    f"{src.describe()} needs {n_out} entries{hint}"
                )
            used.add(src.bias)
        used.add(name)
        layers.append(src)
    natural = sorted(layers, key=lambda s: _natural(s.prefix))
    problem = _chain_break(natural)
    if problem is not None and _chain_break(layers) is None:
        natural = layers  # the file's order chains where the names' does not
    elif problem is not None:
        other = "keras" if layout == "torch" else "torch"
        flipped = [
            LayerSource(s.prefix, s.weight, s.bias, other, s.stored) for s in natural
        ]
        if _chain_break(flipped) is None:
            problem += f"; is the layout {other}? (--layout {other})"
        raise LayerError(problem)
    return natural, [n for n in shapes if n not in used]
