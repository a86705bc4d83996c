"""Hypothesis settings of the suite: a bounded, derandomized CI profile and a long local one.

``DRIVE_HOSTILE_PROFILE=long`` (local): many more examples, random seeds, the example database on,
and 10 MB strings. ``DRIVE_HOSTILE_EXAMPLES=N`` overrides the number of examples of every test.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

PROFILE = os.environ.get("DRIVE_HOSTILE_PROFILE", "ci")
if PROFILE not in {"ci", "long"}:
    raise ValueError(f"DRIVE_HOSTILE_PROFILE must be 'ci' or 'long', got {PROFILE!r}")
_LONG_FACTOR = 25
_SUPPRESSED = [
    HealthCheck.too_slow,  # every example makes real calls
    HealthCheck.filter_too_much,  # draws bigger than the server's message limit are skipped
    HealthCheck.data_too_large,
    HealthCheck.function_scoped_fixture,
]


def hostile_settings(ci_examples: int) -> settings:
    """Settings for one property: ``ci_examples`` in CI, many more in the long profile."""
    override = os.environ.get("DRIVE_HOSTILE_EXAMPLES")
    examples = int(override) if override else ci_examples * (_LONG_FACTOR if PROFILE == "long" else 1)
    ci = PROFILE == "ci"
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=ci,  # CI runs the same examples every time: a red build is reproducible
        database=None if ci else settings().database,
        suppress_health_check=_SUPPRESSED,
        print_blob=not ci,
        # The explain phase (which lines only failing examples ran) costs more than the shrink.
        phases=[phase for phase in Phase if phase != Phase.explain or not ci],
    )
