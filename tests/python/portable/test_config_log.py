"""Process configuration and the log bridge to Python's logging."""

from __future__ import annotations

import logging
import os

import numpy as np
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


def _error_handle():
    """A live SheafError handle (from a call that fails)."""
    from sheaf import _lib

    slot = _lib.ffi.new("SheafError **")
    key = b"no.such.key"
    assert _lib.lib.sheaf_config_set_int(key, len(key), 1, slot) != 0
    return _lib.lib, slot[0]


def _levels_produced(caplog, level):
    """The Python levels of the records the library produces after ``set_log_level(level)``,
    from one record of each kind it has: INFO (a store opened), DEBUG (a call returning an
    error) and ERROR (a second free of one error handle, which the library detects)."""
    sheaf.set_log_level(level)
    caplog.clear()
    store = sheaf.open("mem://")  # INFO "opened store mem://"
    c_lib, err = _error_handle()  # DEBUG "returning SHEAF_ERR_UNKNOWN_CONFIG_KEY: ..."
    c_lib.sheaf_error_free(err)
    c_lib.sheaf_error_free(err)  # ERROR "ignored a free of ...: not a live SheafError handle"
    store.close()
    records = [r for r in caplog.records if r.name == "sheaf"]
    kinds = {
        logging.INFO: "opened store mem://",
        logging.DEBUG: "SHEAF_ERR_UNKNOWN_CONFIG_KEY",
        logging.ERROR: "ignored a free of",
    }
    for record in records:  # every record is of one of the kinds, at that kind's level
        assert kinds[record.levelno] in record.getMessage(), record.getMessage()
    return {r.levelno for r in records}


EVERYTHING = {logging.DEBUG, logging.INFO, logging.ERROR}
INFO_AND_UP = {logging.INFO, logging.ERROR}
ERRORS = {logging.ERROR}


@pytest.mark.parametrize(
    ("level", "produced"),
    [
        (sheaf.TRACE, EVERYTHING),
        (1, EVERYTHING),
        (logging.DEBUG, EVERYTHING),
        (logging.DEBUG + 1, INFO_AND_UP),  # Python's rule: at or above the level
        (logging.INFO, INFO_AND_UP),
        (logging.INFO + 1, ERRORS),  # warnings and errors (the library has no warnings yet)
        (logging.WARNING, ERRORS),
        (logging.ERROR, ERRORS),
        (logging.CRITICAL, ERRORS),  # the library's most severe records are errors
        (logging.CRITICAL + 1, set()),  # above CRITICAL: off
        (logging.CRITICAL + 10, set()),
        ("trace", EVERYTHING),
        ("DEBUG", EVERYTHING),
        ("info", INFO_AND_UP),
        ("warn", ERRORS),
        ("Warning", ERRORS),
        ("error", ERRORS),
        ("critical", ERRORS),
        ("off", set()),
        ("4", EVERYTHING),  # the library's own numbers, as text
        ("0", set()),
    ],
)
def test_set_log_level_keeps_the_records_at_or_above_it(caplog, level, produced):
    caplog.set_level(sheaf.TRACE, logger="sheaf")  # Python's logger lets everything through
    try:
        assert _levels_produced(caplog, level) == produced
    finally:
        sheaf.set_log_level(logging.WARNING)


def test_invalid_log_levels_are_refused_and_change_nothing(caplog):
    caplog.set_level(sheaf.TRACE, logger="sheaf")
    try:
        assert _levels_produced(caplog, "info") == INFO_AND_UP
        for bad, error in (
            ("chatty", sheaf.InvalidArgumentError),
            ("", sheaf.InvalidArgumentError),
            ("6", sheaf.InvalidArgumentError),
            (None, TypeError),
            (True, TypeError),
            (10.0, TypeError),
        ):
            with pytest.raises(error):
                sheaf.set_log_level(bad)
        # still "info": the refused calls left the level alone
        assert _levels_produced(caplog, "info") == INFO_AND_UP
        with pytest.raises(sheaf.InvalidArgumentError):
            sheaf.set_config_int("log_level", 6)
        with pytest.raises(sheaf.InvalidArgumentError):
            sheaf.set_config_int("log_level", -1)
    finally:
        sheaf.set_log_level(logging.WARNING)
    assert _levels_produced(caplog, logging.WARNING) == ERRORS
    sheaf.set_log_level(logging.WARNING)


# --------------------------------------------------------------------------------------------
# config values by their effect
# --------------------------------------------------------------------------------------------

DEFAULT_MAP_SIZE = 64 << 30


@pytest.fixture
def restore_map_size():
    yield
    sheaf.set_config_int("lmdb.map_size", DEFAULT_MAP_SIZE)


def _noise(n_bytes):
    """Incompressible float64 columns of about ``n_bytes``."""
    return {"a": np.random.default_rng(1).random(n_bytes // 8)}


def test_lmdb_map_size_limits_the_stores_opened_afterwards(tmp_path, restore_map_size):
    data = _noise(4 << 20)  # 4 MiB: more than a 1 MiB map holds
    before = sheaf.open(f"lmdb://{tmp_path}/before", output_format="numpy")
    sheaf.set_config_int("lmdb.map_size", 1 << 20)
    small = sheaf.open(f"lmdb://{tmp_path}/small", output_format="numpy")
    lib = small.get_library("l", create_if_missing=True)
    with pytest.raises(sheaf.StorageFullError) as info:
        lib.write("big", data)
    assert isinstance(info.value, OSError) and "map_size" in str(info.value)
    assert lib.list_symbols() == []  # nothing half-written
    lib.write("tiny", {"a": np.arange(10)})  # the store itself still works
    # a store opened before the change keeps its map; ?map_size= wins over the setting
    own = sheaf.open(f"lmdb://{tmp_path}/own?map_size=64MB", output_format="numpy")
    for store in (before, own):
        target = store.get_library("l", create_if_missing=True)
        target.write("big", data)
        assert np.array_equal(target.read("big").data["a"], data["a"])
    # sizes as text: "8MiB" (= "8MB") is 8 << 20 bytes
    sheaf.set_config_string("lmdb.map_size", "8MiB")
    mid = sheaf.open(f"lmdb://{tmp_path}/mid", output_format="numpy")
    mid.get_library("l", create_if_missing=True).write("big", data)  # 4 MiB fits in 8
    with pytest.raises(sheaf.StorageFullError):
        mid["l"].write("bigger", _noise(8 << 20))
    for store in (before, small, own, mid):
        store.close()
    with pytest.raises(sheaf.InvalidArgumentError):
        sheaf.set_config_int("lmdb.map_size", (1 << 20) - 1)


def _threads():
    return len(os.listdir("/proc/self/task"))


@pytest.mark.parametrize("threads", [1, 3])
def test_read_threads_is_how_many_threads_one_read_uses(store, threads):
    """With ``read.threads`` = N, a read decodes its segments on N worker threads (1: on the
    calling thread, none started); counted while a read's stream is open, one batch taken."""
    from sheaf import _arrow_c, _lib

    lib = store.create_library("threads", rows_per_segment=10)
    values = np.arange(1000)
    lib.write("s", {"a": values})  # 100 segments: workers stay busy while the stream is open
    sheaf.set_config_int("read.threads", threads)
    try:
        idle = _threads()
        stream, _, _ = lib._read_stream("s", {})
        try:
            batch = _lib.ffi.new("struct ArrowArray *")
            assert stream.get_next(stream, batch) == 0 and batch.release != _lib.NULL
            batch.release(batch)
            during = _threads()
        finally:
            _arrow_c.release_stream(stream)
        assert during - idle == (0 if threads == 1 else threads)
        assert _threads() == idle  # the workers end with the read
        assert np.array_equal(lib.read("s").data["a"], values)  # and the data is whole
    finally:
        sheaf.set_config_int("read.threads", 0)
