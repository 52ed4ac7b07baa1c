"""Fixtures of the full suite (pandas, pyarrow, polars installed)."""

from __future__ import annotations

import pytest

import sheaf


@pytest.fixture
def store():
    s = sheaf.open("mem://")
    yield s
    s.close()


@pytest.fixture
def lib(store):
    return store.create_library("lib")
