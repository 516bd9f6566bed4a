"""Shared pytest configuration: hypothesis profiles, and the plan cache in a tmp dir.

``HYPOTHESIS_PROFILE=ci`` (set by ``.ci/run``) makes every property test
deterministic; ``dev`` is the default for local runs and ``thorough`` runs many
more examples.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(autouse=True, scope="session")
def _plan_cache_in_tmp(tmp_path_factory):
    """Plans measured by any test (``plan="measure"``) are cached in a tmp dir.

    Never in the user's ``~/.cache``; subprocesses inherit the variable.
    """
    mp = pytest.MonkeyPatch()
    mp.setenv("SPARSECORE_CACHE_DIR", str(tmp_path_factory.mktemp("plan-cache")))
    yield
    mp.undo()
