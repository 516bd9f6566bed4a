"""Which weights to prune: names, glob patterns, biases, and pruning policies.

A :class:`~sparsecore.prune.Pruner` (or :class:`~sparsecore.prune.ArrayPruner`)
prunes a set of named arrays, chosen by :func:`select_weights` in this order:

1. the candidates: the names given explicitly, or else every array the
   default rule picks (a model's ``"<layer>/kernel"`` arrays; for plain arrays,
   every floating-point array of rank >= 2), plus the biases when
   ``prune_biases=True``;
2. ``include`` keeps the candidates matching any of its glob patterns
   (:func:`fnmatch.fnmatchcase`), ``exclude`` drops those matching any of its;
3. a :class:`PruningPolicy` drops the layers it does not allow (tfmot's
   ``pruning_policy``), e.g. :class:`KeepDense` keeps the first and last
   layer of an MLP dense.

A layer is the name without its last component: ``"dense_0/kernel"`` and
``"dense_0/bias"`` are layer ``"dense_0"``; PyTorch's ``"0.weight"`` is layer
``"0"``. Layers are numbered in the order their first candidate appears.
"""

from __future__ import annotations

import abc
import fnmatch
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sparsecore._checks import validate_bool, validate_type

__all__ = [
    "POLICIES",
    "KeepDense",
    "PruningPolicy",
    "is_bias",
    "layer_of",
    "policy_from_config",
    "select_weights",
    "validate_names",
    "validate_patterns",
]


def layer_of(name: str) -> str:
    """The layer a weight belongs to: `name` without its last ``/`` or ``.`` part.

    Examples
    --------
    >>> layer_of("dense_0/kernel"), layer_of("0.weight"), layer_of("w")
    ('dense_0', '0', '')
    """
    cut = max(name.rfind("/"), name.rfind("."))
    return name[:cut] if cut >= 0 else ""


def is_bias(name: str) -> bool:
    """Whether `name` names a bias: its last ``/`` or ``.`` part starts with "bias"."""
    cut = max(name.rfind("/"), name.rfind("."))
    return name[cut + 1 :].startswith("bias")


class PruningPolicy(abc.ABC):
    """Decides, layer by layer, whether a candidate weight may be pruned.

    tfmot's ``PruningPolicy`` for a stack of dense layers: subclass it and
    implement :meth:`allow_pruning` (and :meth:`get_config` if the pruner is
    to be saved in a checkpoint; register the class in :data:`POLICIES`).
    """

    @abc.abstractmethod
    def allow_pruning(self, name: str, layer: int, n_layers: int) -> bool:
        """Whether weight `name` of layer `layer` (0-based, of `n_layers`) is pruned."""

    def ensure_model_supports_pruning(self, names: Sequence[str]) -> None:
        """Raise ``ValueError`` if the candidate `names` cannot follow this policy.

        The default accepts everything; :func:`select_weights` also refuses a
        policy that leaves nothing to prune.
        """
        return None

    def get_config(self) -> dict[str, Any]:
        """``{"class_name": ..., "config": {...}}``, JSON-serialisable."""
        return {"class_name": type(self).__name__, "config": {}}

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_config() == (
            other.get_config() if isinstance(other, PruningPolicy) else None
        )

    def __hash__(self) -> int:
        return hash(repr(self.get_config()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config()["config"].items())
        return f"{type(self).__name__}({args})"


class KeepDense(PruningPolicy):
    """Keep the first and/or the last layer dense; prune the layers between.

    The usual policy for an MLP: the first layer is small and sees the raw
    features, the last one holds one row per class or output, and pruning
    either costs accuracy out of proportion (removing whole output neurons of
    the last layer removes classes).

    Parameters
    ----------
    first : bool, default=True
        Leave the first layer's weights unpruned.
    last : bool, default=True
        Leave the last layer's weights unpruned.

    Examples
    --------
    >>> policy = KeepDense(first=False, last=True)
    >>> [policy.allow_pruning("x", i, 3) for i in range(3)]
    [True, True, False]
    """

    def __init__(self, first: bool = True, last: bool = True) -> None:
        self.first = validate_bool("first", first)
        self.last = validate_bool("last", last)

    def allow_pruning(self, name: str, layer: int, n_layers: int) -> bool:
        if self.first and layer == 0:
            return False
        return not (self.last and layer == n_layers - 1)

    def get_config(self) -> dict[str, Any]:
        return {
            "class_name": type(self).__name__,
            "config": {"first": self.first, "last": self.last},
        }


#: Policy classes by class name, for :func:`policy_from_config`.
POLICIES: dict[str, type[PruningPolicy]] = {"KeepDense": KeepDense}


def policy_from_config(config: Mapping[str, Any]) -> PruningPolicy:
    """Rebuild a policy from :meth:`PruningPolicy.get_config` output.

    Raises
    ------
    ValueError
        If the class name is unknown or the config is malformed.
    """
    if not isinstance(config, Mapping) or set(config) != {"class_name", "config"}:
        raise ValueError(
            f"policy config must be a dict with keys 'class_name' and 'config'; "
            f"got {config!r}"
        )
    cls = (
        POLICIES.get(config["class_name"])
        if isinstance(config["class_name"], str)
        else None
    )
    if cls is None:
        raise ValueError(
            f"policy class_name must be one of {sorted(POLICIES)}; "
            f"got {config['class_name']!r}"
        )
    if not isinstance(config["config"], Mapping):
        raise ValueError(f"policy config must be a dict; got {config['config']!r}")
    return cls(**config["config"])


def validate_names(arg: str, names: Any) -> list[str] | None:
    """None, or a non-empty list of distinct str (a single str is a list of one)."""
    if names is None:
        return None
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, Sequence) or isinstance(names, bytes):
        raise TypeError(f"{arg} must be None or a non-empty list of str; got {names!r}")
    out: list[str] = list(names)
    if not out or not all(isinstance(n, str) for n in out):
        raise TypeError(f"{arg} must be None or a non-empty list of str; got {names!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"{arg} must not repeat a name; got {names!r}")
    return out


def validate_patterns(arg: str, patterns: Any) -> list[str] | None:
    """None, or a non-empty list of glob patterns (a single str is a list of one)."""
    if patterns is None:
        return None
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, Sequence) or isinstance(patterns, bytes):
        raise TypeError(
            f"{arg} must be None or a list of glob patterns (str); got {patterns!r}"
        )
    out: list[str] = list(patterns)
    if not out or not all(isinstance(p, str) for p in out):
        raise TypeError(
            f"{arg} must be None or a list of glob patterns (str); got {patterns!r}"
        )
    return out


def select_weights(
    arrays: Mapping[str, Any],
    *,
    names: Sequence[str] | None = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    prune_biases: bool = False,
    policy: PruningPolicy | None = None,
    default: Callable[[str, Any], bool],
    arg: str = "weights",
    where: str = "the model",
) -> list[str]:
    """The names, among `arrays`, that a pruner prunes (in the order of `arrays`).

    Parameters
    ----------
    arrays : dict of str to array
        Every named array available (weights and biases).
    names : list of str, optional
        Exactly these (each must be in `arrays`); `include` and `exclude`
        must then be None.
    include, exclude : list of str, optional
        Glob patterns over the candidates.
    prune_biases : bool, default=False
        Biases (:func:`is_bias`) are candidates too, and may be named.
    policy : PruningPolicy, optional
        Drops the layers it does not allow.
    default : callable (name, array) -> bool
        The default rule for candidates when `names` is None.
    arg, where : str
        How error messages name the argument and the container.

    Returns
    -------
    list of str
        Non-empty.

    Raises
    ------
    ValueError
        If a name is unknown or a bias is named without `prune_biases`, or
        nothing is left to prune.
    """
    if names is not None:
        if include is not None or exclude is not None:
            raise ValueError(
                f"give either {arg}=[...] or include/exclude patterns, not both"
            )
        chosen = []
        for name in names:
            if name not in arrays:
                raise ValueError(
                    f"{arg} must name weights of {where} {sorted(arrays)}; got {name!r}"
                )
            if is_bias(name) and not prune_biases:
                raise ValueError(
                    f"biases are never pruned unless prune_biases=True; got {arg} "
                    f"entry {name!r}"
                )
        chosen = list(names)
    else:
        chosen = [
            n
            for n, a in arrays.items()
            if default(n, a) or (prune_biases and is_bias(n))
        ]
        if not chosen:
            return []
        if include is not None:
            chosen = [
                n for n in chosen if any(fnmatch.fnmatchcase(n, p) for p in include)
            ]
        if exclude is not None:
            chosen = [
                n for n in chosen if not any(fnmatch.fnmatchcase(n, p) for p in exclude)
            ]
        if not chosen:
            raise ValueError(
                f"include={include!r} and exclude={exclude!r} leave nothing to "
                f"prune in {where} {sorted(arrays)}"
            )
    if policy is not None:
        validate_type("policy", policy, PruningPolicy, "a PruningPolicy")
        policy.ensure_model_supports_pruning(chosen)
        layers = list(dict.fromkeys(layer_of(n) for n in chosen))
        index = {layer: i for i, layer in enumerate(layers)}
        kept = [
            n
            for n in chosen
            if policy.allow_pruning(n, index[layer_of(n)], len(layers))
        ]
        if not kept:
            raise ValueError(
                f"the policy {policy!r} leaves nothing to prune of {chosen} "
                f"({len(layers)} layer(s))"
            )
        chosen = kept
    return chosen
