"""Process configuration and the log bridge to Python's logging."""

from __future__ import annotations

import logging

import pytest

import sheaf


@pytest.fixture
def debug_log():
    sheaf.set_config_string("log_level", "debug")
    yield
    sheaf.set_config_int("log_level", 2)


def test_config_keys():
    sheaf.set_config_int("commit.max_retries", 500)
    sheaf.set_config_int("commit.max_retries", 1000)
    sheaf.set_config_string("lmdb.map_size", "64GB")
    with pytest.raises(sheaf.UnknownConfigKeyError) as info:
        sheaf.set_config_int("no.such.key", 1)
    assert isinstance(info.value, ValueError) and "no.such.key" in str(info.value)
    with pytest.raises(sheaf.InvalidArgumentError):
        sheaf.set_config_string("log_level", "chatty")
    with pytest.raises(sheaf.InvalidArgumentError):
        sheaf.set_config_int("log_level", 99)
    with pytest.raises(TypeError):
        sheaf.set_config_int("log_level", "2")


def test_log_records_reach_the_sheaf_logger(caplog, debug_log):
    caplog.set_level(logging.DEBUG, logger="sheaf")
    store = sheaf.open("mem://", output_format="numpy")
    lib = store.create_library("logged")
    lib.write("sym", {"a": [1, 2, 3]})
    records = [r for r in caplog.records if r.name == "sheaf"]
    assert records, "no record from the library"
    assert any("sym" in r.getMessage() and r.levelno == logging.DEBUG for r in records)
    store.close()


def test_log_level_filters_in_the_library(caplog):
    sheaf.set_log_level(logging.ERROR)
    try:
        caplog.set_level(logging.DEBUG, logger="sheaf")
        lib = sheaf.open("mem://").create_library("quiet")
        lib.write("sym", {"a": [1]})
        assert not [r for r in caplog.records if r.name == "sheaf"]
    finally:
        sheaf.set_log_level(logging.WARNING)


def test_errors_are_logged_at_debug(caplog, debug_log):
    caplog.set_level(logging.DEBUG, logger="sheaf")
    lib = sheaf.open("mem://").create_library("l")
    with pytest.raises(KeyError):
        lib.read("missing")
    assert any("SHEAF_ERR_NO_SUCH_SYMBOL" in r.getMessage() for r in caplog.records)


def test_set_log_level_maps_python_levels():
    for level in (
        sheaf.TRACE,
        logging.DEBUG,
        logging.INFO,
        logging.WARNING,
        logging.ERROR,
        logging.CRITICAL + 10,
        "warn",
    ):
        sheaf.set_log_level(level)
    sheaf.set_log_level(logging.WARNING)
