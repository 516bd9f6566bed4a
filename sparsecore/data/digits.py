"""``load_digits``: scikit-learn's bundled 8x8 handwritten digits, split for training.

1797 grey-level images of the digits 0-9 (about 180 of each), 8x8 pixels with
values 0-16, from the UCI "Optical Recognition of Handwritten Digits" test set.
The data ships inside scikit-learn (no download), which is the one dependency:
install it with the ``datasets`` extra, ``pip install 'sparsecore[datasets]'``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from sparsecore.data.random_state import RandomStateLike
from sparsecore.data.split import train_test_split

__all__ = ["load_digits"]

Split = tuple[NDArray[Any], NDArray[Any]]


def load_digits(
    test_size: float | int = 0.25, random_state: RandomStateLike = 0
) -> tuple[Split, Split]:
    """The digits as Keras returns a dataset: ``(x_train, y_train), (x_test, y_test)``.

    Parameters
    ----------
    test_size : float or int, default=0.25
        Fraction (in (0, 1)) or number of images in the test set, as
        :func:`~sparsecore.data.train_test_split`.
    random_state : int, numpy.random.RandomState or None, default=0
        Seeds the split; the default makes it the same on every call.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        ``x`` float32 of shape (n, 64): the 8x8 pixels row by row, divided by
        16 so that they lie in [0, 1]; ``y`` int64 of shape (n,), the digit.
        With the defaults 1347 training and 450 test images.

    Raises
    ------
    ImportError
        If scikit-learn is not installed.

    Notes
    -----
    The split is stratified on the digit (``train_test_split(x, y,
    test_size=test_size, random_state=random_state, stratify=y)``, identical
    to scikit-learn's), so both sets keep the class frequencies.

    References
    ----------
    Alpaydin & Kaynak (1998), UCI Machine Learning Repository,
    doi:10.24432/C50P49; ``sklearn.datasets.load_digits``.

    Examples
    --------
    >>> (x, y), (x_test, y_test) = load_digits()  # doctest: +SKIP
    >>> x.shape, x.dtype, y[:5]  # doctest: +SKIP
    ((1347, 64), dtype('float32'), array([...]))
    """
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as e:
        raise ImportError(
            "load_digits needs scikit-learn, which holds the data: "
            f"pip install 'sparsecore[datasets]' ({e})"
        ) from None
    bunch = sklearn_load_digits()
    # pixel counts 0..16: k / 16 is exact in float32
    x = (np.asarray(bunch.data) / 16.0).astype(np.float32)
    y = np.asarray(bunch.target).astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, random_state=random_state, stratify=y
    )
    return (x_train, y_train), (x_test, y_test)
