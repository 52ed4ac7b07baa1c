"""Status codes map to exception classes mixed with the natural builtins."""

from __future__ import annotations

import pickle

import pytest

import sheaf
from sheaf import _lib, errors


def cdef_codes():
    codes = _lib.all_status_codes()
    assert len(codes) >= 30, codes  # the cdef really was read
    return codes


def test_every_status_code_in_the_cdef_has_a_class():
    missing = {
        name: code for name, code in cdef_codes().items() if code not in errors.STATUS_CLASSES
    }
    assert not missing, f"SHEAF_ERR_* codes without an exception class: {missing}"


def test_class_codes_agree_with_library_names():
    for name, code in cdef_codes().items():
        cls = errors.STATUS_CLASSES[code]
        assert cls.default_code == code
        assert _lib.status_name(code) == name
        err = cls("boom", code)
        assert err.status_name == name


@pytest.mark.parametrize(
    "low, base, builtin",
    [
        (100, errors.GenericError, None),
        (200, errors.StorageError, OSError),
        (300, errors.NotFoundError, KeyError),
        (400, errors.ConflictError, None),
        (500, errors.SchemaError, ValueError),
        (600, errors.InvalidArgumentError, ValueError),
        (700, errors.ClosedError, ValueError),
        (900, errors.InternalError, RuntimeError),
    ],
)
def test_ranges(low, base, builtin):
    codes = [c for c in cdef_codes().values() if low <= c < low + 100]
    assert codes
    for code in codes:
        cls = errors.error_class(code)
        assert issubclass(cls, base) and issubclass(cls, sheaf.SheafError)
        if builtin is not None:
            assert issubclass(cls, builtin)
    # an unknown code of the range still maps to the range class
    assert errors.error_class(low + 99) is base


def test_specific_classes():
    assert issubclass(sheaf.NoSuchSymbolError, KeyError)
    assert issubclass(sheaf.NoSuchVersionError, KeyError)
    assert issubclass(sheaf.NoSuchLibraryError, KeyError)
    assert issubclass(sheaf.LibraryExistsError, sheaf.ConflictError)
    assert issubclass(sheaf.UnsortedIndexError, ValueError)
    assert issubclass(sheaf.UnsupportedTypeError, TypeError)
    assert issubclass(sheaf.ClosedError, ValueError)
    assert errors.error_class(12345) is sheaf.SheafError


def test_key_error_message_has_no_quotes(lib):
    with pytest.raises(KeyError) as info:
        lib.read("missing")
    err = info.value
    assert isinstance(err, sheaf.NoSuchSymbolError)
    assert err.code == 302 and err.status_name == "SHEAF_ERR_NO_SUCH_SYMBOL"
    assert str(err).startswith("no symbol 'missing'"), str(err)
    assert "lib" in str(err)


def test_internal_error_from_a_caught_panic():
    slot = _lib.errslot()
    status = _lib.lib.sheaf_debug_panic(slot)
    assert status == 900
    with pytest.raises(RuntimeError) as info:
        _lib.check(status, slot)
    assert isinstance(info.value, sheaf.InternalError)
    assert "panic" in str(info.value)
    assert slot[0] == _lib.ffi.NULL  # the error slot is reset and reused


def test_errors_pickle():
    err = sheaf.NoSuchVersionError("version 7 is gone", 303)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is sheaf.NoSuchVersionError
    assert back.code == 303 and str(back) == "version 7 is gone"
    oserr = sheaf.StorageFullError("full", 202)
    assert str(pickle.loads(pickle.dumps(oserr))) == "full"


def test_storage_error_is_oserror_with_plain_message():
    err = sheaf.StorageError("disk on fire", 201)
    assert isinstance(err, OSError)
    assert str(err) == "disk on fire"
    assert repr(err) == "StorageError('disk on fire', code=201)"


def test_classes_carry_their_status_without_the_library():
    # Raised from Python (no code given): the class's own code and name.
    err = sheaf.NoSuchSymbolError("gone")
    assert err.code == 302 and err.status_name == "SHEAF_ERR_NO_SUCH_SYMBOL"
    assert err.args == ("gone",) and err.message == "gone"
    assert sheaf.NonContiguousBufferError("x").status_name == "SHEAF_ERR_INVALID_ARGUMENT"
    # A code given: its name, whatever the class; unknown codes as the library names them.
    assert sheaf.SheafError("m", 303).status_name == "SHEAF_ERR_NO_SUCH_VERSION"
    assert sheaf.SheafError("m", 999).status_name == "SHEAF_ERR_UNKNOWN" == _lib.status_name(999)
    assert errors.status_name(0) == "SHEAF_OK" == _lib.status_name(0)
    assert sheaf.SheafError("m", 302, "given").status_name == "given"


@pytest.mark.parametrize(
    "code, cls, category",
    [
        (150, errors.GenericError, "GENERIC"),
        (299, errors.StorageError, "STORAGE"),
        (350, errors.NotFoundError, "NOT_FOUND"),
        (499, errors.ConflictError, "CONFLICT"),
        (599, errors.SchemaError, "SCHEMA"),
        (650, errors.InvalidArgumentError, "INVALID_ARGUMENT"),
        (701, errors.ClosedError, "CLOSED"),
        (901, errors.InternalError, "INTERNAL"),
        (800, sheaf.SheafError, "GENERIC"),
        (302, errors.NoSuchSymbolError, "NOT_FOUND"),
    ],
)
def test_codes_without_a_class_of_their_own_map_to_their_range(code, cls, category):
    assert errors.error_class(code) is cls
    assert errors.error_category(code) == category


def test_a_failure_without_a_message_raises_by_its_status():
    # A status with nothing in the error slot: the class, code and name come from the status.
    slot = _lib.ffi.new("SheafError **")
    with pytest.raises(sheaf.NoSuchSymbolError) as info:
        _lib.check(302, slot)
    err = info.value
    assert err.code == 302 and err.status_name == "SHEAF_ERR_NO_SUCH_SYMBOL"
    assert str(err) == "SHEAF_ERR_NO_SUCH_SYMBOL (the library gave no message)"
    with pytest.raises(errors.NotFoundError) as info:  # a code of the range, no class of its own
        _lib.check(350, slot)
    assert info.value.code == 350 and type(info.value) is errors.NotFoundError
    assert str(info.value) == "SHEAF_ERR_UNKNOWN (the library gave no message)"
    # call: the C function gets the thread's slot as its last argument and leaves it empty.
    given = []

    def fails(a, b, slot):
        given.append((a, b, slot))
        return 701

    with pytest.raises(sheaf.ClosedError) as info:
        _lib.call(fails, 1, 2)
    assert info.value.code == 701 and "no message" in str(info.value)
    assert given == [(1, 2, _lib.errslot())]
    assert _lib.call(lambda slot: 0) is None


def test_status_names_and_codes_in_messages_from_cold_caches(monkeypatch):
    monkeypatch.setattr(_lib, "_status_names", {})
    assert _lib.status_name(302) == "SHEAF_ERR_NO_SUCH_SYMBOL"
    assert _lib._status_names == {302: "SHEAF_ERR_NO_SUCH_SYMBOL"}  # asked once, then cached
    assert _lib.status_name(302) == "SHEAF_ERR_NO_SUCH_SYMBOL"
    monkeypatch.setattr(_lib, "_CODES_BY_NAME", None)
    closed = int(_lib.lib.SHEAF_ERR_CLOSED)
    assert _lib.code_in_message("stream: SHEAF_ERR_NOT_A_CODE, then SHEAF_ERR_CLOSED") == closed
    assert _lib.code_in_message("stream: SHEAF_ERR_NOT_A_CODE") is None
    assert _lib.code_in_message("no status named") is None
