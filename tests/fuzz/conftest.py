"""Counts the fuzz cases tried and reports them at the end of the run.

The count is printed in pytest's terminal summary (``sparsecore fuzz: ...``)
and, when ``SPARSECORE_FUZZ_REPORT`` names a file, written there as JSON.
``SPARSECORE_FUZZ_EXAMPLES`` (default 800) sets the hypothesis examples per
fuzz test; e.g. ``SPARSECORE_FUZZ_EXAMPLES=5000 pytest tests/fuzz``.
"""

import collections
import json
import os

import pytest

#: (file kind, outcome) -> number of cases, e.g. ("checkpoint", "refused").
COUNTS: collections.Counter = collections.Counter()


@pytest.fixture(scope="session")
def fuzz_counts():
    return COUNTS


def pytest_terminal_summary(terminalreporter):
    if not COUNTS:
        return
    total = sum(COUNTS.values())
    parts = ", ".join(
        f"{kind} {outcome} {n}" for (kind, outcome), n in sorted(COUNTS.items())
    )
    terminalreporter.write_line(f"sparsecore fuzz: {total} cases tried ({parts})")
    path = os.environ.get("SPARSECORE_FUZZ_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump(
                {"total": total, **{f"{k}/{o}": n for (k, o), n in COUNTS.items()}}, f
            )
