"""Fixtures of the portable suite (numpy and plain Python only)."""

from __future__ import annotations

import pytest

import sheaf


@pytest.fixture
def store():
    s = sheaf.open("mem://", output_format="numpy")
    yield s
    s.close()


@pytest.fixture
def lib(store):
    return store.create_library("lib")


@pytest.fixture
def lmdb_uri(tmp_path):
    return "lmdb://" + str(tmp_path / "store")
