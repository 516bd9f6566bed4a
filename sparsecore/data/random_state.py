"""scikit-learn's ``random_state`` convention, shared by the data generators.

``random_state`` is an int (seeds a new :class:`numpy.random.RandomState`), a
``RandomState`` (used and advanced) or None (NumPy's global ``RandomState``,
the one ``np.random.seed`` sets), exactly as sklearn's ``check_random_state``:
the functions of :mod:`sparsecore.data` then draw the same numbers as sklearn's.
"""

from __future__ import annotations

import numpy as np

from sparsecore._checks import is_int

__all__ = ["MAX_SEED", "RandomStateLike", "check_random_state", "validate_random_state"]

RandomStateLike = int | np.random.RandomState | None

#: The largest seed a ``RandomState`` accepts.
MAX_SEED = 2**32 - 1


def validate_random_state(value: object) -> None:
    """Accept what sklearn's ``check_random_state`` accepts (bools excluded).

    Raises
    ------
    TypeError
        If `value` is not None, an int or a RandomState.
    ValueError
        If an int is outside [0, 2**32 - 1].
    """
    constraint = f"an int in [0, {MAX_SEED}], a numpy.random.RandomState or None"
    if value is None or isinstance(value, np.random.RandomState):
        return
    if not is_int(value):
        raise TypeError(f"random_state must be {constraint}; got {value!r}")
    if not 0 <= int(value) <= MAX_SEED:
        raise ValueError(f"random_state must be {constraint}; got {value!r}")


def check_random_state(value: RandomStateLike) -> np.random.RandomState:
    """Return the generator sklearn's ``check_random_state`` would return.

    None is NumPy's global RandomState (the one ``np.random.seed`` seeds), an
    int seeds a new RandomState, and a RandomState is used as is (and advances).
    """
    validate_random_state(value)
    if value is None:
        return np.random.mtrand._rand
    if isinstance(value, np.random.RandomState):
        return value
    return np.random.RandomState(int(value))
