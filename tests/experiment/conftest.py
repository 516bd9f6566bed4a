"""The tiny experiment, run once for every test that reads its result."""

import pytest

from sparsecore.experiment import run_experiment
from tests.experiment.exp_helpers import TINY


@pytest.fixture(scope="session")
def tiny_result():
    lines = []
    result = run_experiment(TINY, log=lines.append)
    return result, lines
