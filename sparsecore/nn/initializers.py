"""Weight initializers with the distributions Keras uses.

Every initializer is a plain function ``init(shape, rng, dtype) -> ndarray``
registered in :data:`INITIALIZERS` under its Keras name. Randomness comes only
from the ``np.random.Generator`` passed in.

Notes
-----
Keras' variance-scaling family draws from a distribution with variance
``scale / n``, where ``n`` is ``fan_in`` or ``(fan_in + fan_out) / 2``:

- ``*_uniform``: ``U(-limit, limit)`` with ``limit = sqrt(3 * scale / n)``.
- ``*_normal``: a normal truncated at two standard deviations, with
  ``stddev = sqrt(scale / n) / 0.87962566103423978`` so that the *truncated*
  distribution has variance ``scale / n`` (0.8796... is the standard deviation
  of a standard normal truncated to [-2, 2]).

``he_*`` use ``scale=2, n=fan_in``; ``lecun_*`` ``scale=1, n=fan_in``;
``glorot_*`` ``scale=1, n=(fan_in + fan_out) / 2``. For a kernel of shape
``(n_in, n_out)``, ``fan_in = n_in`` and ``fan_out = n_out``.

References
----------
Glorot & Bengio (2010); He et al. (2015), arXiv:1502.01852; Keras
``keras.initializers.VarianceScaling``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sparsecore._checks import validate_choice, validate_type

__all__ = [
    "INITIALIZERS",
    "get_initializer",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "ones",
    "truncated_normal",
    "zeros",
]

Initializer = Callable[[tuple[int, ...], np.random.Generator, np.dtype], np.ndarray]

# Standard deviation of a standard normal truncated to [-2, 2] (Keras' constant).
_TRUNCATED_STD = 0.87962566103423978


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a kernel ``(n_in, n_out)`` or a vector."""
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def truncated_normal(
    shape: tuple[int, ...], stddev: float, rng: np.random.Generator, dtype: np.dtype
) -> np.ndarray:
    """Draw ``N(0, stddev**2)`` truncated to ``[-2 stddev, 2 stddev]``.

    Out-of-range draws are redrawn (vectorised rejection), as TensorFlow does.

    Returns
    -------
    ndarray of shape `shape` and dtype `dtype`
    """
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2.0
    while bad.any():  # each round redraws ~4.6 % of what is left
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    out *= stddev
    return out.astype(dtype, copy=False)


def _variance_scaling(scale: float, mode: str, distribution: str) -> Initializer:
    def init(
        shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype
    ) -> np.ndarray:
        fan_in, fan_out = _fans(shape)
        n = fan_in if mode == "fan_in" else (fan_in + fan_out) / 2.0
        if distribution == "uniform":
            limit = np.sqrt(3.0 * scale / n)
            return rng.uniform(-limit, limit, shape).astype(dtype, copy=False)
        stddev = np.sqrt(scale / n) / _TRUNCATED_STD
        return truncated_normal(shape, stddev, rng, dtype)

    return init


glorot_uniform = _variance_scaling(1.0, "fan_avg", "uniform")
glorot_normal = _variance_scaling(1.0, "fan_avg", "normal")
he_uniform = _variance_scaling(2.0, "fan_in", "uniform")
he_normal = _variance_scaling(2.0, "fan_in", "normal")
lecun_normal = _variance_scaling(1.0, "fan_in", "normal")


def zeros(
    shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype
) -> np.ndarray:
    """All zeros (the default bias initializer)."""
    return np.zeros(shape, dtype=dtype)


def ones(
    shape: tuple[int, ...], rng: np.random.Generator, dtype: np.dtype
) -> np.ndarray:
    """All ones."""
    return np.ones(shape, dtype=dtype)


INITIALIZERS: dict[str, Initializer] = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "lecun_normal": lecun_normal,
    "zeros": zeros,
    "ones": ones,
}


def get_initializer(name: str) -> Initializer:
    """Look an initializer up by its Keras name.

    Raises
    ------
    TypeError
        If `name` is not a string.
    ValueError
        If `name` is not a key of :data:`INITIALIZERS`; the message lists them.
    """
    validate_type("initializer", name, str, "a str")
    return INITIALIZERS[validate_choice("initializer", name, INITIALIZERS)]
