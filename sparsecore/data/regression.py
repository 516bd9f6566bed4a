"""``make_regression``: scikit-learn's linear regression problem, bit for bit.

:func:`make_regression` reproduces ``sklearn.datasets.make_regression`` (checked
against scikit-learn 1.9.1) without importing scikit-learn: for the same
arguments and ``random_state`` it draws the same numbers from the same
:class:`numpy.random.RandomState` in the same order and combines them with the
same NumPy operations. The tutorial's data is therefore exactly the data the
tutorial used::

    x, y = make_regression(10000, 1000, n_informative=500, noise=3, random_state=0)

It returns float64 arrays, as scikit-learn does; the caller casts.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from sparsecore._checks import validate_bool, validate_float, validate_int
from sparsecore.data.random_state import RandomStateLike, check_random_state

__all__ = ["make_regression"]


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
    generator = check_random_state(random_state)

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
