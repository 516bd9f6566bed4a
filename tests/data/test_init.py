"""The sparsecore.data package: its names, and the old module's still importable."""

import sparsecore as sc
import sparsecore.data as data


def test_all():
    assert data.__all__ == [
        "load_digits",
        "load_mnist1d",
        "make_regression",
        "train_test_split",
    ]
    for name in data.__all__:
        assert callable(getattr(sc.data, name))


def test_names_of_the_former_module_stay_importable():
    from sparsecore.data import make_regression, train_test_split

    assert make_regression.__module__ == "sparsecore.data.regression"
    assert train_test_split.__module__ == "sparsecore.data.split"
