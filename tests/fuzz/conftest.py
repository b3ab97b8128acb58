"""The fuzz suite's settings and outcome log (issue 13).

Profiles: `ci` (default; seeded, derandomised, a couple of minutes in all, part of `make test`)
and `fuzz` (`make fuzz`: RELEASEGATE_FUZZ_EXAMPLES examples per property, default 300). Every
example records its category and outcome; with RELEASEGATE_FUZZ_LOG set, the tally is written
there as JSON at the end of the session (bench/fuzz.py turns it into bench/RESULTS.md's table).
"""
from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "flows"))  # hostile_cli

_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                      HealthCheck.data_too_large, HealthCheck.filter_too_much])
settings.register_profile("ci", max_examples=12, derandomize=True, **_COMMON)
settings.register_profile("fuzz", max_examples=int(os.environ.get("RELEASEGATE_FUZZ_EXAMPLES", "300")),
                          **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

TALLY: Counter[tuple[str, str]] = Counter()


def record(category: str, outcome: str) -> None:
    TALLY[(category, outcome)] += 1


@pytest.fixture(scope="session", autouse=True)
def _write_tally() -> Iterator[None]:
    yield
    target = os.environ.get("RELEASEGATE_FUZZ_LOG")
    if target:
        Path(target).write_text(json.dumps([{"category": c, "outcome": o, "count": n}
                                            for (c, o), n in sorted(TALLY.items())], indent=1))
