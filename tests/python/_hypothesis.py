"""Example budgets of the property tests, scaled by the Hypothesis profile (see conftest.py).

A test asks for ``examples(60)``: 60 under the ``local`` and ``ci`` profiles, 600 under ``dev``.
Writing a fixed ``max_examples`` in a test's ``@settings`` instead would pin it whatever the
profile says.
"""

from hypothesis import settings

#: max_examples of the ``local`` and ``ci`` profiles; ``dev`` has ten times as many.
BASE_EXAMPLES = 100


def examples(n: int) -> int:
    """``n`` examples at the base profiles' budget, scaled by the active profile's."""
    return max(1, n * settings().max_examples // BASE_EXAMPLES)
