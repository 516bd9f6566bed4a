"""Shared fixtures of the data tests: scikit-learn's reference functions."""

import pytest


@pytest.fixture(scope="module")
def sk():
    """sklearn's make_regression and train_test_split (skips without sklearn)."""
    datasets = pytest.importorskip("sklearn.datasets")
    model_selection = pytest.importorskip("sklearn.model_selection")
    return datasets.make_regression, model_selection.train_test_split
