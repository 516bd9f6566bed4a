"""``train_test_split``: scikit-learn's random (and stratified) split, bit for bit.

:func:`train_test_split` reproduces ``sklearn.model_selection.train_test_split``
(checked against scikit-learn 1.9.1), with or without ``stratify``, without
importing scikit-learn: it is sklearn's ``ShuffleSplit`` (or
``StratifiedShuffleSplit``) with one split, drawing from the same
:class:`numpy.random.RandomState` in the same order. The tutorial's split::

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=42
    )
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sparsecore._checks import validate_bool
from sparsecore.data.random_state import (
    RandomStateLike,
    check_random_state,
    validate_random_state,
)

__all__ = ["train_test_split"]

# sklearn's train_test_split uses this test fraction when neither size is given.
_DEFAULT_TEST_SIZE = 0.25


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


def _stratify_labels(stratify: object, n_samples: int) -> NDArray[Any]:
    """`stratify` as 1-d class labels (a 2-d one's rows joined, as sklearn)."""
    y = np.asarray(stratify)
    if y.ndim not in (1, 2) or y.shape[0] != n_samples:
        raise ValueError(
            f"stratify must have shape ({n_samples},) or ({n_samples}, n_outputs) "
            f"(one label per sample); got {y.shape}"
        )
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError("stratify must contain only finite labels; got NaN or inf")
    if y.ndim == 2:
        # sklearn's multi-label rule: each distinct row is one class, keyed by
        # its text (join, because str(row) abbreviates long rows)
        y = np.array([" ".join(row.astype("str")) for row in y])
    return y


def _approximate_mode(
    class_counts: NDArray[Any], n_draws: int, rng: np.random.RandomState
) -> NDArray[Any]:
    """sklearn's ``_approximate_mode``: per-class counts summing to `n_draws`.

    Each class gets ``floor(n_draws * share)``; the samples left go to the
    classes with the largest remainders, exact ties broken at random by `rng`.
    """
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        values = np.sort(np.unique(remainder))[::-1]
        for value in values:  # over distinct remainders, at most n_classes
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            inds = rng.choice(inds, size=add_now, replace=False)
            floored[inds] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    counts: NDArray[Any] = floored.astype(int)
    return counts


def _stratified_split(
    y: NDArray[Any], n_train: int, n_test: int, rng: np.random.RandomState
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """sklearn's ``StratifiedShuffleSplit`` (one split): train and test indices."""
    classes, y_indices, class_counts = np.unique(
        y, return_inverse=True, return_counts=True
    )
    n_classes = classes.shape[0]
    if np.min(class_counts) < 2:
        raise ValueError(
            "stratify must have at least 2 samples of every class; classes with "
            f"1: {classes[class_counts < 2].tolist()}"
        )
    for name, count in (("train", n_train), ("test", n_test)):
        if count < n_classes:
            raise ValueError(
                f"the {name} set must have at least one sample per class: "
                f"{count} samples for {n_classes} classes; change test_size or "
                "train_size"
            )
    # samples of each class in order of appearance (np.unique sorted the classes)
    class_indices = np.split(
        np.argsort(y_indices.reshape(-1), kind="stable"), np.cumsum(class_counts)[:-1]
    )
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train, test = [], []
    for i in range(n_classes):  # over classes, drawing in sklearn's order
        members = class_indices[i][rng.permutation(class_counts[i])]
        train.append(members[: n_i[i]])
        test.append(members[n_i[i] : n_i[i] + t_i[i]])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def train_test_split(
    *arrays: ArrayLike,
    test_size: float | None = None,
    train_size: float | None = None,
    random_state: RandomStateLike = None,
    shuffle: bool = True,
    stratify: ArrayLike | None = None,
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
    stratify : array-like of shape (n_samples,) or (n_samples, n_outputs), optional
        Class labels: each class is split in the proportions of the sets, so
        both keep the class frequencies (up to one sample per class). Every
        class needs 2 samples, and each set one sample per class. Rows of a
        2-d array are classes (sklearn's multi-label rule). Needs
        ``shuffle=True``.

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
        are out of range for ``n_samples`` (or leave the train set empty);
        for `stratify`: a wrong length, a class with one sample, a set smaller
        than the number of classes, or ``shuffle=False``.

    Notes
    -----
    With ``shuffle=True`` one permutation ``p = rng.permutation(n_samples)`` is
    drawn; the test set is ``p[:n_test]`` and the train set
    ``p[n_test:n_test + n_train]``, with ``n_test = ceil(test_size * n_samples)``
    and ``n_train = floor(train_size * n_samples)`` for float sizes.

    With `stratify`, as sklearn's ``StratifiedShuffleSplit``: the counts per
    class of the train set follow the class shares of ``n_train`` (floored,
    the remaining samples to the largest remainders, ties at random), the test
    set likewise from what is left; then each class's samples are permuted and
    cut, and both sets permuted.

    This reproduces ``sklearn.model_selection.train_test_split`` (with or
    without ``stratify``) bit for bit, checked against scikit-learn 1.9.1: it
    is sklearn's ``ShuffleSplit`` or ``StratifiedShuffleSplit`` with one split,
    drawing from the same ``RandomState`` in the same order. Sizes sklearn
    rejects are rejected, with different messages.

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
    validate_random_state(random_state)
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

    if stratify is not None:
        labels = _stratify_labels(stratify, n_samples)
        if not shuffle:
            raise ValueError(
                "stratify needs shuffle=True (as sklearn: a stratified split "
                "without shuffling is not defined)"
            )
        rng = check_random_state(random_state)
        train, test = _stratified_split(labels, n_train, n_test, rng)
    elif shuffle:
        permutation = check_random_state(random_state).permutation(n_samples)
        test = permutation[:n_test]
        train = permutation[n_test : n_test + n_train]
    else:
        train = np.arange(n_train)
        test = np.arange(n_train, n_train + n_test)
    return [part for a in converted for part in (a[train], a[test])]
