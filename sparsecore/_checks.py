"""Argument validation: the one set of checks behind every TypeError and ValueError.

Every public function and constructor checks its arguments with these, so every
message has one grammar::

    <name> must be <constraint>; got <value!r>

for example ``"patience must be an int in [0, inf); got 1.5"``. The rules:

- ``TypeError`` for a wrong type, ``ValueError`` for a value of the right type
  outside its range, ``IndexError`` for an axis out of range (as NumPy).
- A ``bool`` is never accepted as an int or a float (``True`` is not ``1``
  here), and NaN is outside every interval.
- Intervals are written as in mathematics: ``[0, 1)``, ``(0, inf)``.

Nothing here uses ``assert``: the checks hold under ``python -O``.

``sparsecore.runtime`` must import nothing outside itself (so that the folder
can be copied into a NumPy-only program); it carries a byte-for-byte copy of
this module as ``sparsecore/runtime/_checks.py``, and ``tests/test_layering.py``
fails if the two ever differ.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Collection, Sequence
from typing import Any, TypeGuard

import numpy as np

__all__ = [
    "all_finite",
    "cast_finite",
    "finite_norm",
    "interval",
    "is_int",
    "is_real",
    "validate_array",
    "validate_axis",
    "validate_bool",
    "validate_choice",
    "validate_float",
    "validate_int",
    "validate_pair",
    "validate_samples",
    "validate_seed",
    "validate_sparsity",
    "validate_type",
]

#: Seeds are non-negative ints below 2**63 (what ``np.random.default_rng`` and
#: JSON both carry without loss).
MAX_SEED = 2**63 - 1


def is_int(value: Any) -> TypeGuard[int | np.integer[Any]]:
    """True for Python and NumPy integers, False for bools (and everything else)."""
    return isinstance(value, (int, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )


def is_real(
    value: Any,
) -> TypeGuard[int | float | np.integer[Any] | np.floating[Any]]:
    """True for Python and NumPy ints and floats, False for bools and complex."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _bound(v: float) -> str:
    if isinstance(v, (int, np.integer)):
        return str(v)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:g}" if float(v).is_integer() else repr(float(v))


def interval(
    low: float, high: float, *, low_open: bool = False, high_open: bool = True
) -> str:
    """An interval in mathematical notation; infinite ends are always open.

    Examples
    --------
    >>> interval(0, 1), interval(1, math.inf), interval(0, math.inf, low_open=True)
    ('[0, 1)', '[1, inf)', '(0, inf)')
    """
    left = "(" if low_open or math.isinf(low) else "["
    right = ")" if high_open or math.isinf(high) else "]"
    return f"{left}{_bound(low)}, {_bound(high)}{right}"


def validate_int(
    name: str, value: Any, low: int | None = None, high: int | None = None
) -> int:
    """`value` as an ``int`` in ``[low, high]`` (either bound may be None).

    Raises
    ------
    TypeError
        If `value` is not an int (a bool is not).
    ValueError
        If it is outside the bounds.
    """
    lo = -math.inf if low is None else low
    hi = math.inf if high is None else high
    constraint = "an int"
    if low is not None or high is not None:
        constraint += " in " + interval(lo, hi, high_open=high is None)
    if not is_int(value):
        raise TypeError(f"{name} must be {constraint}; got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be {constraint}; got {value!r}")
    return int(value)


def validate_float(
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = True,
) -> float:
    """`value` as a finite ``float`` in the interval from `low` to `high`.

    The default interval is ``[low, high)``; an infinite bound is open, so the
    result is always finite. Ints are accepted (``1`` is ``1.0``), bools are not.

    Raises
    ------
    TypeError
        If `value` is not a real number.
    ValueError
        If it is NaN, infinite or outside the interval.
    """
    if math.isinf(low) and math.isinf(high):
        constraint = "a finite float"
    else:
        text = interval(low, high, low_open=low_open, high_open=high_open)
        constraint = f"a float in {text}"
    if not is_real(value):
        raise TypeError(f"{name} must be {constraint}; got {value!r}")
    try:
        v = float(value)
    except OverflowError:  # an int beyond the float range, e.g. 10**400
        raise ValueError(f"{name} must be {constraint}; got {value!r}") from None
    above = v >= high if high_open or math.isinf(high) else v > high
    below = v <= low if low_open or math.isinf(low) else v < low
    if not math.isfinite(v) or above or below:
        raise ValueError(f"{name} must be {constraint}; got {value!r}")
    return v


def validate_sparsity(name: str, value: Any) -> float:
    """A sparsity: a float in ``[0, 1)`` (tfmot's ``_validate_sparsity``)."""
    return validate_float(name, value, 0.0, 1.0)


def validate_bool(name: str, value: Any) -> bool:
    """`value` as a ``bool`` (Python or NumPy); ints are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool; got {value!r}")
    return bool(value)


def validate_choice(name: str, value: Any, choices: Collection[Any]) -> Any:
    """`value`, which must be one of `choices` (the message lists them, sorted).

    Raises
    ------
    ValueError
        If `value` is not one of `choices` (whatever its type).
    """
    try:
        ok = value in choices
    except TypeError:  # unhashable value and a set of choices
        ok = False
    if not ok:
        listed = sorted(choices, key=str)
        raise ValueError(f"{name} must be one of {listed}; got {value!r}")
    return value


def validate_type(
    name: str, value: Any, types: type | tuple[type, ...], what: str
) -> Any:
    """`value`, which must be an instance of `types` (`what` names them)."""
    if not isinstance(value, types):
        raise TypeError(f"{name} must be {what}; got {value!r}")
    return value


def validate_seed(name: str, value: Any) -> int | None:
    """None, or an int in ``[0, 2**63)``."""
    if value is None:
        return None
    constraint = "None or an int in [0, 2**63)"
    if not is_int(value):
        raise TypeError(f"{name} must be {constraint}; got {value!r}")
    if not 0 <= value <= MAX_SEED:
        raise ValueError(f"{name} must be {constraint}; got {value!r}")
    return int(value)


def validate_pair(name: str, value: Any, low: int, what: str) -> tuple[int, int]:
    """A pair of ints ``>= low`` given as a tuple or list (`what` describes it)."""
    ok = (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(is_int(v) and v >= low for v in value)
    )
    if not ok:
        raise ValueError(f"{name} must be {what}; got {value!r}")
    return int(value[0]), int(value[1])


def validate_axis(name: str, axis: Any, ndim: int, shape: tuple[int, ...]) -> int:
    """`axis` normalised to ``[0, ndim)`` for an array of `shape`.

    Raises
    ------
    TypeError
        If `axis` is not an int.
    IndexError
        If it is outside ``[-ndim, ndim)``.
    """
    constraint = f"an int in [{-ndim}, {ndim})"
    if not is_int(axis):
        raise TypeError(f"{name} must be {constraint}; got {axis!r}")
    if not -ndim <= axis < ndim:
        raise IndexError(
            f"{name} must be {constraint} for an array of shape {shape}; got {axis!r}"
        )
    return operator.index(axis) % ndim


def validate_array(name: str, value: Any, kinds: str = "biuf") -> np.ndarray:
    """`value` as an ndarray whose dtype kind is in `kinds` (no copy if possible).

    Parameters
    ----------
    name : str
    value : array_like
    kinds : str, default='biuf'
        Accepted ``dtype.kind`` letters: bool, signed, unsigned, float.

    Raises
    ------
    ValueError
        If `value` is not rectangular (a ragged nested list).
    TypeError
        If its dtype is not one of `kinds` (strings, objects, complex, ...).
    """
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as e:  # ragged nested lists, ...
        raise ValueError(
            f"{name} must be a rectangular numeric array; got {type(value).__name__}"
            f" ({e})"
        ) from None
    if arr.dtype.kind not in kinds:
        names = {"b": "bool", "i": "int", "u": "int", "f": "float"}
        words = list(dict.fromkeys(names.get(k, k) for k in kinds))
        allowed = " or ".join(filter(None, [", ".join(words[:-1]), words[-1]]))
        raise TypeError(
            f"{name} must be a real numeric array ({allowed}); got dtype {arr.dtype}"
        )
    return arr


def cast_finite(arr: np.ndarray, name: str, dtype: np.dtype[Any]) -> np.ndarray:
    """`arr` cast to `dtype`, refusing NaN, inf and values the cast overflows.

    Bool and int arrays are always finite in float32 and are just cast. The
    message names the first offending row (axis 0 is the sample axis).

    Raises
    ------
    ValueError
        If a value is NaN or infinite, or becomes infinite in `dtype`.
    """
    if arr.dtype.kind != "f":
        return arr.astype(dtype, copy=False)
    _check_finite(arr, name, "must contain only finite values")
    with np.errstate(over="ignore"):  # reported below, with the culprit
        out = arr.astype(dtype, copy=False)
    if arr.dtype.itemsize > np.dtype(dtype).itemsize:
        limit = np.finfo(dtype).max
        _check_finite(
            out, name, f"must fit in {np.dtype(dtype).name} (|value| <= {limit:.4g})"
        )
    return out


def all_finite(arr: np.ndarray) -> bool:
    """Whether every entry of the float array `arr` is finite (exactly).

    First :func:`finite_norm` (one BLAS dot product: cheaper than
    ``isfinite(arr).all()``, which makes two NumPy calls and a temporary,
    and the difference shows on a batch-1 input); only when it fails (NaN or
    inf, or finite entries beyond ``sqrt(max)``) does the exact check run.
    """
    return finite_norm(arr) or bool(np.isfinite(arr).all())


def finite_norm(arr: np.ndarray) -> bool:
    """Whether the sum of squares of `arr` is finite in its dtype.

    True implies that every entry is finite *and* below ``sqrt(max)`` of the
    dtype (about 1.8e19 in float32), so that adding or subtracting two such
    arrays cannot overflow. One BLAS dot product: the cheapest full pass over
    a parameter array (about a third of a sum), so it can run every training
    step. An empty array is finite.
    """
    # vdot flattens in C (no view to make); for real arrays it is the dot product
    return math.isfinite(np.vdot(arr, arr))


def validate_samples(
    name: str,
    value: Any,
    n_features: int,
    dtype: np.dtype[Any],
    *,
    allow_empty: bool = False,
) -> tuple[np.ndarray, bool]:
    """An inference input: ``(n_samples, n_features)`` or one sample ``(n_features,)``.

    The checks of a model's ``predict``: a rectangular real array (bool, int
    or float), of ``n_features`` columns and at least one sample (or none,
    with `allow_empty`), whose values are finite in `dtype` (NaN, inf and
    float64 values that overflow float32 are refused), cast to `dtype` (no
    copy when it already is).

    Returns
    -------
    x : ndarray of shape (n_samples, n_features) and dtype `dtype`
    single : bool
        Whether `value` was one 1-D sample.

    Raises
    ------
    TypeError
        If the dtype is not real numeric.
    ValueError
        If the shape is wrong, there is no sample, or a value is not finite.
    """
    # Written for a batch-1 call, where every NumPy call shows.
    arr = value if type(value) is np.ndarray else validate_array(name, value)
    if arr.dtype.kind not in "biuf":
        validate_array(name, arr)  # raises the TypeError with its message
    shape = arr.shape
    single = len(shape) == 1
    if single:
        arr = arr[None, :]
    if len(arr.shape) != 2 or arr.shape[1] != n_features:
        raise ValueError(
            f"{name} must have shape (n_samples, {n_features}) or "
            f"({n_features},); got {shape}"
        )
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} must have at least one sample; got shape {shape}")
    if arr.dtype is not dtype and arr.dtype != dtype:
        return cast_finite(arr, name, dtype), single
    if not finite_norm(arr):
        _check_finite(arr, name, "must contain only finite values")
    return arr, single


def _check_finite(arr: np.ndarray, name: str, constraint: str) -> None:
    if all_finite(arr):
        return
    if arr.ndim == 0:
        raise ValueError(f"{name} {constraint}; got {arr[()]!r}")
    bad = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
    rows = np.flatnonzero(bad)
    raise ValueError(
        f"{name} {constraint}; found NaN or inf in {rows.size} sample(s), the "
        f"first at row {rows[0]}"
    )
