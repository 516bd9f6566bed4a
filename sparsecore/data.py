"""Seeded toy data: a linear regression problem and a train/test split.

:func:`make_regression` and :func:`train_test_split` reproduce
``sklearn.datasets.make_regression`` and
``sklearn.model_selection.train_test_split`` bit for bit (checked against
scikit-learn 1.9.1), without importing scikit-learn: for the same arguments and
the same ``random_state`` they draw the same numbers from the same
:class:`numpy.random.RandomState` in the same order and combine them with the
same NumPy operations. The tutorial's data is therefore exactly the data the
tutorial used::

    x, y = make_regression(10000, 1000, n_informative=500, noise=3, random_state=0)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=42
    )

Both return float64 arrays, as scikit-learn does; the caller casts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sparsecore._checks import is_int, validate_bool, validate_float, validate_int

__all__ = ["make_regression", "train_test_split"]

RandomStateLike = int | np.random.RandomState | None

# sklearn's train_test_split uses this test fraction when neither size is given.
_DEFAULT_TEST_SIZE = 0.25
_MAX_SEED = 2**32 - 1


# --------------------------------------------------------------------------------------
# validators (sklearn's own rules for random_state and split sizes)


def _validate_random_state(value: object) -> None:
    """Accept what sklearn's ``check_random_state`` accepts (bools excluded)."""
    constraint = f"an int in [0, {_MAX_SEED}], a numpy.random.RandomState or None"
    if value is None or isinstance(value, np.random.RandomState):
        return
    if not is_int(value):
        raise TypeError(f"random_state must be {constraint}; got {value!r}")
    if not 0 <= int(value) <= _MAX_SEED:
        raise ValueError(f"random_state must be {constraint}; got {value!r}")


def _check_random_state(value: RandomStateLike) -> np.random.RandomState:
    """Return the generator sklearn's ``check_random_state`` would return.

    None is NumPy's global RandomState (the one ``np.random.seed`` seeds), an
    int seeds a new RandomState, and a RandomState is used as is (and advances).
    """
    _validate_random_state(value)
    if value is None:
        return np.random.mtrand._rand
    if isinstance(value, np.random.RandomState):
        return value
    return np.random.RandomState(int(value))


def _validate_split_size(name: str, value: object) -> int | float | None:
    """Check a train/test size: None, an int >= 1 or a float in (0, 1)."""
    constraint = "a float in (0, 1), an int in [1, inf) or None"
    if value is None:
        return None
    # sklearn accepts Python floats (and np.float64, a float subclass) and signed
    # ints; it rejects bools, unsigned ints and np.float32.
    if isinstance(value, (int, np.signedinteger)) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"{name} must be {constraint}; got {value!r}")
        return int(value)
    if isinstance(value, float):
        if not 0.0 < value < 1.0:
            raise ValueError(f"{name} must be {constraint}; got {value!r}")
        return float(value)
    raise TypeError(f"{name} must be {constraint}; got {value!r}")


def _split_sizes(
    n_samples: int, test_size: int | float | None, train_size: int | float | None
) -> tuple[int, int]:
    """Number of train and test samples, as sklearn's ``_validate_shuffle_split``.

    A float size is a fraction of ``n_samples``: the test set is rounded up
    (``ceil``) and the train set down (``floor``). A missing size is the rest.
    """
    if test_size is None and train_size is None:
        test_size = _DEFAULT_TEST_SIZE
    for name, size in (("test_size", test_size), ("train_size", train_size)):
        if isinstance(size, int) and size >= n_samples:
            raise ValueError(
                f"{name} must be an int in [1, n_samples) = [1, {n_samples}) "
                f"or a float in (0, 1); got {size!r}"
            )
    if isinstance(test_size, float) and isinstance(train_size, float):
        if test_size + train_size > 1.0:
            raise ValueError(
                "test_size + train_size must be in (0, 1] when both are floats; "
                f"got {test_size!r} + {train_size!r} = {test_size + train_size!r}"
            )

    def count(size: int | float, rounding: Callable[[float], int]) -> int:
        return int(rounding(size * n_samples)) if isinstance(size, float) else size

    if test_size is None:
        assert train_size is not None  # both None was replaced above
        n_train = count(train_size, math.floor)
        n_test = n_samples - n_train
    else:
        n_test = count(test_size, math.ceil)
        if train_size is None:
            n_train = n_samples - n_test
        else:
            n_train = count(train_size, math.floor)
    if n_train + n_test > n_samples:
        raise ValueError(
            f"n_train + n_test must be <= n_samples={n_samples}; got "
            f"{n_train} + {n_test} = {n_train + n_test} (from test_size="
            f"{test_size!r}, train_size={train_size!r}); reduce test_size "
            "and/or train_size"
        )
    if n_train == 0:
        raise ValueError(
            f"the train set must have >= 1 sample; got 0 from n_samples="
            f"{n_samples}, test_size={test_size!r}, train_size={train_size!r}"
        )
    return n_train, n_test


# --------------------------------------------------------------------------------------
# make_regression


def _low_rank_matrix(
    n_samples: int,
    n_features: int,
    effective_rank: int,
    tail_strength: float,
    generator: np.random.RandomState,
) -> NDArray[np.float64]:
    """sklearn's ``make_low_rank_matrix``: ``u @ diag(s) @ v.T``, bell + fat tail.

    ``u`` (n_samples, n) and ``v`` (n_features, n), with
    ``n = min(n_samples, n_features)``, are the Q factors of Gaussian matrices.
    """
    try:
        # sklearn uses scipy.linalg.qr. NumPy links another OpenBLAS build whose
        # QR can differ in the last bits (seen multithreaded, 500 x 300), so
        # use scipy when it is there, for bit equality.
        from scipy.linalg import qr as scipy_qr
    except ImportError:  # pragma: no cover - scipy is a dependency
        scipy_qr = None

    def orthonormal(shape: tuple[int, int]) -> NDArray[np.float64]:
        a = generator.standard_normal(size=shape)
        if scipy_qr is None:
            return np.linalg.qr(a, mode="reduced")[0]
        q: NDArray[np.float64] = scipy_qr(a, mode="economic", check_finite=False)[0]
        return q

    n = min(n_samples, n_features)
    u = orthonormal((n_samples, n))
    v = orthonormal((n_features, n))
    # Singular values: (1 - t) * exp(-(i / r)^2) + t * exp(-0.1 * i / r).
    singular_ind = np.arange(n, dtype=np.float64)
    low_rank = (1 - tail_strength) * np.exp(-1.0 * (singular_ind / effective_rank) ** 2)
    tail = tail_strength * np.exp(-0.1 * singular_ind / effective_rank)
    # The dense diagonal matrix (not u * s) keeps sklearn's exact BLAS calls.
    s = np.identity(n) * (low_rank + tail)
    x: NDArray[np.float64] = np.dot(np.dot(u, s), v.T)
    return x


def make_regression(
    n_samples: int = 100,
    n_features: int = 100,
    *,
    n_informative: int = 10,
    n_targets: int = 1,
    bias: float = 0.0,
    effective_rank: int | None = None,
    tail_strength: float = 0.5,
    noise: float = 0.0,
    shuffle: bool = True,
    coef: bool = False,
    random_state: RandomStateLike = None,
) -> tuple[NDArray[np.float64], ...]:
    """Generate a random linear regression problem, exactly as scikit-learn.

    The inputs are standard normal (or a low-rank matrix when
    ``effective_rank`` is given), and the targets are a linear function of the
    first ``n_informative`` features, plus ``bias`` and Gaussian noise; then
    samples and features are shuffled.

    Parameters
    ----------
    n_samples : int, default=100
        Number of samples, in [1, inf).
    n_features : int, default=100
        Number of features, in [1, inf).
    n_informative : int, default=10
        Number of features with a non-zero coefficient, in [0, inf). Values
        above ``n_features`` are clipped to ``n_features`` (as sklearn).
    n_targets : int, default=1
        Number of targets per sample, in [1, inf).
    bias : float, default=0.0
        Intercept of the linear model; any finite float.
    effective_rank : int or None, default=None
        None for well-conditioned Gaussian inputs; otherwise an int in
        [1, inf), the approximate number of singular vectors that explain most
        of the inputs (sklearn's ``make_low_rank_matrix``).
    tail_strength : float, default=0.5
        Weight in [0, 1] of the fat tail of the singular values; used only when
        ``effective_rank`` is not None.
    noise : float, default=0.0
        Standard deviation of the Gaussian noise added to the targets; a finite
        float in [0, inf).
    shuffle : bool, default=True
        Shuffle the samples and the features.
    coef : bool, default=False
        Also return the coefficients of the linear model.
    random_state : int, numpy.random.RandomState or None, default=None
        An int in [0, 2**32 - 1] seeds a new ``RandomState``; a
        ``RandomState`` is used and advanced; None uses NumPy's global
        ``RandomState`` (the one ``np.random.seed`` sets).

    Returns
    -------
    x : ndarray of shape (n_samples, n_features), dtype float64
        The inputs.
    y : ndarray of shape (n_samples,) or (n_samples, n_targets), dtype float64
        The targets, ``x @ coef + bias + noise``. Squeezed with ``np.squeeze``
        as in sklearn: shape (n_samples,) when ``n_targets == 1``.
    coef : ndarray of shape (n_features,) or (n_features, n_targets), dtype float64
        The coefficients (``n_informative`` of each column are non-zero, drawn
        from ``U(0, 100)``). Returned only when ``coef=True``; squeezed as ``y``.

    Raises
    ------
    TypeError
        If an argument has the wrong type (bools are not accepted as ints, nor
        ints as bools).
    ValueError
        If an argument is out of its range.

    Notes
    -----
    The model is

    .. math:: y = X w + b + \\varepsilon, \\quad
              X_{ij} \\sim N(0, 1), \\quad w_{j} \\sim U(0, 100)
              \\text{ for } j < n_{inf}, \\text{ else } 0, \\quad
              \\varepsilon \\sim N(0, \\text{noise}^2).

    This reproduces ``sklearn.datasets.make_regression`` bit for bit
    (``np.array_equal``), checked against scikit-learn 1.9.1: the generator is
    the same ``RandomState`` and is called in the same order (inputs, then
    coefficients, then noise if ``noise > 0``, then the sample and the feature
    permutations), and ``x @ coef`` is the same BLAS call. With
    ``effective_rank`` the QR factorisations use ``scipy.linalg.qr`` as sklearn
    does. Edge cases follow sklearn too: ``np.squeeze`` makes ``y`` 0-d when
    ``n_samples == n_targets == 1`` (and ``coef`` 0-d when
    ``n_features == n_targets == 1``).

    Examples
    --------
    >>> x, y = make_regression(n_samples=5, n_features=2, noise=1, random_state=42)
    >>> x.shape, y.shape, x.dtype
    ((5, 2), (5,), dtype('float64'))
    >>> y.round(2)
    array([  6.74,  37.8 , -10.28,   0.4 ,  42.23])
    """
    n_samples = validate_int("n_samples", n_samples, 1)
    n_features = validate_int("n_features", n_features, 1)
    n_informative = validate_int("n_informative", n_informative, 0)
    n_targets = validate_int("n_targets", n_targets, 1)
    # Checked, but kept as given: sklearn computes with the caller's object
    # (``1 - tail_strength`` is float32 arithmetic for an np.float32).
    validate_float("bias", bias)
    if effective_rank is not None:
        effective_rank = validate_int("effective_rank", effective_rank, 1)
    validate_float("tail_strength", tail_strength, 0.0, 1.0, high_open=False)
    validate_float("noise", noise, 0.0)
    shuffle = validate_bool("shuffle", shuffle)
    coef = validate_bool("coef", coef)

    n_informative = min(n_features, n_informative)
    generator = _check_random_state(random_state)

    if effective_rank is None:
        x = generator.standard_normal(size=(n_samples, n_features))
    else:
        x = _low_rank_matrix(
            n_samples, n_features, effective_rank, tail_strength, generator
        )

    # Only the first n_informative features carry signal (before the shuffle).
    ground_truth = np.zeros((n_features, n_targets))
    ground_truth[:n_informative, :] = 100 * generator.uniform(
        size=(n_informative, n_targets)
    )
    y = np.dot(x, ground_truth) + bias  # (n_samples, n_targets)
    if noise > 0.0:
        y += generator.normal(scale=noise, size=y.shape)

    if shuffle:
        # sklearn draws the sample permutation first, then the feature one.
        rows = np.arange(n_samples)
        generator.shuffle(rows)
        cols = np.arange(n_features)
        generator.shuffle(cols)
        x = x[np.ix_(rows, cols)]  # one copy instead of sklearn's two
        y = y[rows]
        ground_truth = ground_truth[cols]

    y = np.squeeze(y)
    if coef:
        return x, y, np.squeeze(ground_truth)
    return x, y


# --------------------------------------------------------------------------------------
# train_test_split


def _as_array(index: int, array: object) -> NDArray[Any]:
    if array is None:
        raise TypeError(f"arrays[{index}] must be an array-like; got None")
    a = np.asarray(array)
    if a.ndim == 0:
        raise ValueError(
            f"arrays[{index}] must have at least 1 dimension; got shape {a.shape} "
            f"({array!r})"
        )
    return a


def train_test_split(
    *arrays: ArrayLike,
    test_size: float | None = None,
    train_size: float | None = None,
    random_state: RandomStateLike = None,
    shuffle: bool = True,
) -> list[NDArray[Any]]:
    """Split arrays into random train and test subsets, exactly as scikit-learn.

    Parameters
    ----------
    *arrays : array-likes, each of shape (n_samples, ...)
        The arrays to split, all with the same length along axis 0. Each is
        converted with ``np.asarray`` (so lists come back as ndarrays).
    test_size : float, int or None, default=None
        A float in (0, 1) is the fraction of samples in the test set (rounded
        up); an int in [1, n_samples) is their number. None means the
        complement of ``train_size``, or 0.25 if that is None too.
    train_size : float, int or None, default=None
        A float in (0, 1) is the fraction of samples in the train set (rounded
        down); an int in [1, n_samples) is their number. None means the
        complement of ``test_size``.
    random_state : int, numpy.random.RandomState or None, default=None
        Seeds the permutation as in :func:`make_regression`. Validated but
        unused when ``shuffle=False``.
    shuffle : bool, default=True
        Shuffle before splitting. If False the first ``n_train`` samples are
        the train set and the next ``n_test`` the test set.

    Returns
    -------
    splits : list of ndarray, length 2 * len(arrays)
        ``[a_train, a_test, b_train, b_test, ...]``: ``a_train`` of shape
        (n_train, ...) and ``a_test`` of shape (n_test, ...), copies with the
        input's dtype.

    Raises
    ------
    TypeError
        If a size, ``shuffle`` or ``random_state`` has the wrong type, or an
        array is None.
    ValueError
        If no array is given, an array is 0-d, the lengths differ, or the sizes
        are out of range for ``n_samples`` (or leave the train set empty).

    Notes
    -----
    With ``shuffle=True`` one permutation ``p = rng.permutation(n_samples)`` is
    drawn; the test set is ``p[:n_test]`` and the train set
    ``p[n_test:n_test + n_train]``, with ``n_test = ceil(test_size * n_samples)``
    and ``n_train = floor(train_size * n_samples)`` for float sizes.

    This reproduces ``sklearn.model_selection.train_test_split`` (without
    ``stratify``) bit for bit, checked against scikit-learn 1.9.1: it is
    sklearn's ``ShuffleSplit`` with one split, using the same ``RandomState``.
    Sizes sklearn rejects are rejected, with different messages.

    Examples
    --------
    >>> x, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    >>> x_train, x_test, y_train, y_test = train_test_split(
    ...     x, y, test_size=0.2, random_state=42)
    >>> y_train, y_test
    (array([5, 0, 7, 2, 9, 4, 3, 6]), array([8, 1]))
    """
    test_size = _validate_split_size("test_size", test_size)
    train_size = _validate_split_size("train_size", train_size)
    _validate_random_state(random_state)
    shuffle = validate_bool("shuffle", shuffle)
    if not arrays:
        raise ValueError("train_test_split needs at least one array; got none")
    converted = [_as_array(i, a) for i, a in enumerate(arrays)]
    lengths = [a.shape[0] for a in converted]
    if len(set(lengths)) > 1:
        raise ValueError(
            "arrays must all have the same number of samples (length of axis 0); "
            f"got lengths {lengths}"
        )
    n_samples = lengths[0]
    n_train, n_test = _split_sizes(n_samples, test_size, train_size)

    if shuffle:
        permutation = _check_random_state(random_state).permutation(n_samples)
        test = permutation[:n_test]
        train = permutation[n_test : n_test + n_train]
    else:
        train = np.arange(n_train)
        test = np.arange(n_train, n_train + n_test)
    return [part for a in converted for part in (a[train], a[test])]
