"""``load_mnist1d``: MNIST-1D (Greydanus 2020), generated offline.

MNIST-1D is a procedurally generated stand-in for MNIST: ten 1-d templates
of the digits, each padded, dilated, scaled, translated, sheared, given
correlated and white noise and resampled to 40 points, 500 series per digit.
It is small (4000 training and 1000 test series) yet separates model families
far better than MNIST: the paper reports 32 % test accuracy for logistic
regression, 68 % for an MLP, 94 % for a CNN and 91 % for a GRU.

The data is generated, never downloaded, by the ``mnist1d`` package
(``pip install 'sparsecore[datasets]'``): ``make_dataset(get_dataset_args())``
rebuilds the published dataset from its seed. The package's ``get_dataset``
downloads and unpickles a file, so it is never called here.
"""

from __future__ import annotations

import functools
import random
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["load_mnist1d"]

Split = tuple[NDArray[Any], NDArray[Any]]


@functools.lru_cache(maxsize=1)
def _generate() -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
    """The four arrays, generated once per process (see load_mnist1d's Notes)."""
    try:
        # imported here: the package imports matplotlib and requests at import
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:
        raise ImportError(
            "load_mnist1d needs the mnist1d package: "
            f"pip install 'sparsecore[datasets]' ({e})"
        ) from None
    # make_dataset seeds NumPy's and Python's global generators (set_seed):
    # put them back, so that loading data does not change anyone's randomness
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    arrays = (
        np.asarray(data["x"], dtype=np.float32),
        np.asarray(data["y"], dtype=np.int64),
        np.asarray(data["x_test"], dtype=np.float32),
        np.asarray(data["y_test"], dtype=np.int64),
    )
    for a in arrays:
        a.flags.writeable = False  # the cache hands out copies only
    return arrays


def load_mnist1d() -> tuple[Split, Split]:
    """MNIST-1D as Keras returns a dataset: ``(x_train, y_train), (x_test, y_test)``.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        ``x_train`` float32 of shape (4000, 40), ``x_test`` (1000, 40): the
        series, standardised over the whole dataset to mean 0 and standard
        deviation 1 (as published; the package computes in float64);
        ``y_train`` int64 of shape (4000,), ``y_test`` (1000,): the digits 0-9.
        Fresh copies on every call.

    Raises
    ------
    ImportError
        If the ``mnist1d`` package (or a package it imports) is missing.

    Notes
    -----
    The arrays are ``mnist1d.data.make_dataset(get_dataset_args())`` with the
    package's defaults (5000 series, seed 42, 80/20 split), which is the
    published dataset; ``get_dataset`` (a download and an unpickle) is never
    used. The first call in a process takes about 2.3 s on 2 cores (about 1.2 s
    to generate, about 1 s to import the package, which imports matplotlib and
    requests); the arrays are then kept in memory, not on disk, and later calls
    cost a copy (0.8 MB). The generator seeds NumPy's and Python's
    global random state; both are restored afterwards (not thread-safe with
    respect to other users of the global state while it runs).

    References
    ----------
    Greydanus & Kobak, "Scaling Down Deep Learning with MNIST-1D", ICML 2024
    (arXiv:2011.14439, first version 2020); https://github.com/greydanus/mnist1d.

    Examples
    --------
    >>> (x, y), (x_test, y_test) = load_mnist1d()  # doctest: +SKIP
    >>> x.shape, y.shape, x_test.shape  # doctest: +SKIP
    ((4000, 40), (4000,), (1000, 40))
    """
    x, y, x_test, y_test = _generate()
    return (x.copy(), y.copy()), (x_test.copy(), y_test.copy())
