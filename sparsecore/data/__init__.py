"""Data: scikit-learn's generators and split, bit for bit, and two classification sets.

- :func:`make_regression` (:mod:`~sparsecore.data.regression`) and
  :func:`train_test_split` (:mod:`~sparsecore.data.split`, with ``stratify``)
  reproduce scikit-learn's functions bit for bit without importing it.
- :func:`load_digits` (:mod:`~sparsecore.data.digits`): scikit-learn's 8x8
  digits, 10 classes, split stratified.
- :func:`load_mnist1d` (:mod:`~sparsecore.data.mnist1d`): MNIST-1D, 10 classes,
  generated offline by the ``mnist1d`` package.

The two loaders return ``(x_train, y_train), (x_test, y_test)`` as Keras' datasets
do, float32 inputs and int64 labels, the same on every call; they need the
``datasets`` extra (``pip install 'sparsecore[datasets]'``).
"""

from sparsecore.data.digits import load_digits
from sparsecore.data.mnist1d import load_mnist1d
from sparsecore.data.regression import make_regression
from sparsecore.data.split import train_test_split

__all__ = ["load_digits", "load_mnist1d", "make_regression", "train_test_split"]
