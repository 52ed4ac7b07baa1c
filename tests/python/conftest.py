"""Shared by both suites: makes the helpers next to this file (e.g. ``_parallel``,
``_hypothesis``) importable, and registers the Hypothesis profiles.

Profiles (the property tests scale their own example counts by the profile's, see
``_hypothesis.examples``):

- ``ci``: loaded when ``CI=true``. Derandomized (examples derived from each test, no seed and no
  example database), so every run of one commit tries the same examples and gives the same
  verdict.
- ``local``: the default elsewhere. Random, with the example database under
  ``tests/python/.hypothesis`` (git-ignored), which replays the failures found before first.
- ``dev``: for exploring, ten times the examples of ``local``:
  ``SHEAF_HYPOTHESIS_PROFILE=dev python -m pytest full portable`` (from tests/python).

``SHEAF_HYPOTHESIS_PROFILE`` picks a profile by name (it wins over ``CI``), and so does pytest's
``--hypothesis-profile``. Every profile prints, with a failure, the falsifying example and an
``@reproduce_failure(...)`` decorator: added to the test, it replays exactly that example.
"""

import os
import sys
from typing import Any

from hypothesis import settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# tests/ too, last: s3_server (the local S3 server and create_bucket) lives there.
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _hypothesis import BASE_EXAMPLES

settings.register_profile(
    "ci",
    max_examples=BASE_EXAMPLES,
    derandomize=True,
    database=None,
    print_blob=True,
    deadline=None,
)
settings.register_profile("local", max_examples=BASE_EXAMPLES, print_blob=True, deadline=None)
settings.register_profile("dev", max_examples=10 * BASE_EXAMPLES, print_blob=True, deadline=None)


def _profile() -> str:
    chosen = os.environ.get("SHEAF_HYPOTHESIS_PROFILE", "").strip()
    if chosen:
        return chosen
    in_ci = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
    return "ci" if in_ci else "local"


PROFILE = _profile()
settings.load_profile(PROFILE)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    # After the results, also under -q: which examples this run tried (pytest's
    # --hypothesis-profile, applied after this file, wins over PROFILE).
    active = settings()
    terminalreporter.write_line(
        f"hypothesis profile {PROFILE!r}: max_examples={active.max_examples}, "
        f"derandomize={active.derandomize}, database={active.database!r}"
    )
