"""numpy arrays and plain lists in and out through the Arrow C structs (cffi only)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

import sheaf

INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]


def roundtrip(lib, data, **kw):
    lib.write("s", data, **kw)
    return lib.read("s", output_format="numpy").data


@pytest.mark.parametrize("dtype", [*INT_DTYPES, "float16", "float32", "float64"])
def test_numeric_dtypes(lib, dtype):
    info = np.iinfo(dtype) if dtype in INT_DTYPES else np.finfo(dtype)
    arr = np.array([info.min, 0, 1, info.max], dtype=dtype)
    out = roundtrip(lib, {"c": arr})["c"]
    assert type(out) is np.ndarray
    assert out.dtype == np.dtype(dtype)
    assert out.tolist() == arr.tolist()


def test_bool_and_float_nan_is_a_value(lib):
    b = np.array([True, False, True, True, False, False, True, False, True])
    f = np.array([1.0, np.nan, -np.inf, 0.0, 2.5, 3, 4, 5, 6])
    out = roundtrip(lib, {"b": b, "f": f})
    assert out["b"].dtype == bool and out["b"].tolist() == b.tolist()
    assert type(out["f"]) is np.ndarray  # NaN is a value, not a null
    assert np.isnan(out["f"][1]) and out["f"][2] == -np.inf


def test_masked_arrays_give_nulls(lib):
    ints = np.ma.MaskedArray([1, 2, 3, 4], mask=[False, True, False, True])
    flts = np.ma.MaskedArray([1.5, 2.5, 3.5, 4.5], mask=[True, False, False, False])
    bools = np.ma.MaskedArray([True, True, False, False], mask=[False, False, True, False])
    out = roundtrip(lib, {"i": ints, "f": flts, "b": bools})
    for name, src in (("i", ints), ("f", flts), ("b", bools)):
        got = out[name]
        assert isinstance(got, np.ma.MaskedArray), name
        assert got.mask.tolist() == src.mask.tolist()
        assert got.compressed().tolist() == src.compressed().tolist()
    assert out["i"].dtype == np.int64


def test_lists_of_python_values(lib):
    data = {
        "i": [1, None, 3],
        "f": [1, 2.5, None],
        "b": [True, None, False],
        "s": ["a", None, "żółw"],
        "by": [b"\x00\x01", None, b""],
        "n": [None, None, None],
        "big": [2**64 - 1, 0, 1],
    }
    out = roundtrip(lib, data)
    assert out["i"].dtype == np.int64 and out["i"].tolist() == [1, None, 3]
    assert out["f"].dtype == np.float64 and out["f"].tolist() == [1.0, 2.5, None]
    assert out["b"].tolist() == [True, None, False]
    assert out["s"].dtype == object and out["s"].tolist() == ["a", None, "żółw"]
    assert out["by"].tolist() == [b"\x00\x01", None, b""]
    assert out["n"].tolist() == [None, None, None]
    assert out["big"].dtype == np.uint64 and out["big"][0] == 2**64 - 1


def test_strings_numpy_unicode_and_object(lib):
    u = np.array(["alpha", "", "βeta", "x" * 1000])
    o = np.array(["a", "b", None, "d"], dtype=object)
    out = roundtrip(lib, {"u": u, "o": o})
    assert type(out["u"]) is np.ndarray and out["u"].tolist() == u.tolist()
    assert isinstance(out["o"], np.ma.MaskedArray)
    assert out["o"].mask.tolist() == [False, False, True, False]
    assert out["o"].data.tolist() == ["a", "b", None, "d"]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_datetime64_units_and_nat(lib, unit):
    arr = np.array(
        ["2024-01-01T00:00:01", "NaT", "1969-12-31T23:59:59"], dtype=f"datetime64[{unit}]"
    )
    out = roundtrip(lib, {"t": arr})["t"]
    assert out.dtype == np.dtype(f"datetime64[{unit}]")
    assert out.mask.tolist() == [False, True, False]
    assert out[0] == arr[0] and out[2] == arr[2]


def test_dates_and_timedeltas(lib):
    days = np.array(["2024-02-29", "1900-01-01", "2100-12-31"], dtype="datetime64[D]")
    td = np.array([1, -2, 3], dtype="timedelta64[ms]")
    out = roundtrip(
        lib,
        {
            "d": days,
            "td": td,
            "pyd": [dt.date(2024, 1, 1), None, dt.date(1970, 1, 2)],
            "pytd": [dt.timedelta(seconds=1.5), dt.timedelta(days=-1), None],
        },
    )
    assert out["d"].dtype == np.dtype("datetime64[D]") and out["d"].tolist() == days.tolist()
    assert out["td"].dtype == np.dtype("timedelta64[ms]") and out["td"].tolist() == td.tolist()
    assert out["pyd"].dtype == np.dtype("datetime64[D]")
    assert out["pyd"].tolist() == [dt.date(2024, 1, 1), None, dt.date(1970, 1, 2)]
    assert out["pytd"].dtype == np.dtype("timedelta64[us]")
    assert out["pytd"].tolist() == [dt.timedelta(seconds=1.5), dt.timedelta(days=-1), None]


def test_dates_with_nat(lib):
    days = np.array(["2024-02-29", "NaT", "1900-01-01"], dtype="datetime64[D]")
    out = roundtrip(lib, {"d": days})["d"]
    assert out.dtype == np.dtype("datetime64[D]") and out.mask.tolist() == [False, True, False]
    assert out[0] == days[0] and out[2] == days[2]
    with pytest.raises(OverflowError):
        lib.write("s", {"d": np.array([2**40], dtype="datetime64[D]")})


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(5, dtype=np.uint16),
        np.arange(6.0).reshape(2, 3),
        np.array([["a", "bc"], ["", "żółw"]]),
        np.array([b"x", b"yz"]),
        np.array(["2024-01-01", "NaT"], dtype="datetime64[ms]"),
        np.array([1, None, 3], dtype=object),
        np.asfortranarray(np.arange(6, dtype=np.int8).reshape(3, 2)),
    ],
    ids=["uint16", "float64-2d", "unicode-2d", "bytes", "datetime-nat", "object", "fortran"],
)
def test_bare_numpy_arrays_round_trip(lib, arr):
    lib.write("s", arr)
    out = lib.read("s", output_format="numpy").data
    assert type(out) is np.ndarray
    assert out.dtype == arr.dtype and out.shape == arr.shape
    if arr.dtype == object:
        assert out.tolist() == arr.tolist()
    else:
        np.testing.assert_array_equal(out, arr)
    masked = np.ma.MaskedArray([1.0, 2.0, 3.0], mask=[False, True, False])
    lib.write("m", masked)
    out = lib.read("m", output_format="numpy").data
    assert isinstance(out, np.ma.MaskedArray) and out.mask.tolist() == [False, True, False]


def test_python_datetimes_with_and_without_tz(lib):
    tz9 = dt.timezone(dt.timedelta(hours=9))
    aware = [dt.datetime(2024, 1, 1, 9, tzinfo=tz9), dt.datetime(2024, 1, 2, 9, tzinfo=tz9)]
    naive = [dt.datetime(2024, 1, 1, 12, 30), None]
    out = roundtrip(lib, {"a": aware, "n": naive})
    assert out.timezones == {"a": "+09:00"}
    # values are UTC instants
    assert out["a"].tolist() == [dt.datetime(2024, 1, 1, 0), dt.datetime(2024, 1, 2, 0)]
    assert out["a"].dtype == np.dtype("datetime64[us]")
    assert out["n"].tolist() == [dt.datetime(2024, 1, 1, 12, 30), None]
    utc = [dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)]
    assert roundtrip(lib, {"u": utc}).timezones == {"u": "UTC"}


def test_columns_round_trip_keeps_timezones_and_index(lib):
    ts = np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[ns]")
    src = sheaf.Columns({"ts": ts, "v": np.array([1.0, 2.0])}, timezones={"ts": "Europe/Paris"})
    lib.write("a", src, index="ts")
    first = lib.read("a", output_format="numpy").data
    assert first.timezones == {"ts": "Europe/Paris"} and first.index == "ts"
    lib.write("b", first)  # a Columns keeps its timezones and index
    second = lib.read("b", output_format="numpy")
    assert second.index == "ts" and second.data.timezones == {"ts": "Europe/Paris"}
    assert second.data["ts"].tolist() == ts.tolist()
    assert "2 rows" in repr(second.data) and second.data.num_rows() == 2


def test_many_segments_and_compressions(store):
    n = 10_007
    rng = np.random.default_rng(1)
    data = {
        "i": np.arange(n),
        "f": rng.random(n),
        "s": [str(i) for i in range(n)],
        "m": np.ma.MaskedArray(np.arange(n), mask=np.arange(n) % 7 == 0),
    }
    for comp in ("lz4", "zstd", "none"):
        lib = store.create_library(comp, rows_per_segment=1000, compression=comp)
        lib.write("s", data)
        out = lib.read("s").data
        assert out["i"].tolist() == data["i"].tolist()
        assert np.array_equal(out["f"], data["f"])
        assert out["s"].tolist() == data["s"]
        assert out["m"].mask.tolist() == data["m"].mask.tolist()
        assert out["m"].compressed().tolist() == data["m"].compressed().tolist()


def test_compression_changes_the_stored_bytes(tmp_path):
    """The codec is applied, not only reported: the same compressible rows take the most room
    uncompressed, less with LZ4 and least with ZSTD (measured as the LMDB file of a store
    holding only them), and read back the same."""
    n = 300_000
    rng = np.random.default_rng(2)
    data = {
        "i": np.repeat(np.arange(n // 100, dtype=np.int64), 100),
        "f": np.round(rng.normal(size=n), 1),
        "s": [("alpha", "beta", "gamma")[k] for k in rng.integers(0, 3, n).tolist()],
    }
    sizes = {}
    for comp in ("none", "lz4", "zstd"):
        store = sheaf.open(f"lmdb://{tmp_path}/{comp}", output_format="numpy")
        lib = store.create_library("l", compression=comp, rows_per_segment=100_000)
        assert lib.options.compression == comp
        lib.write("s", data)
        out = lib.read("s").data
        assert out["i"].tolist() == data["i"].tolist() and out["s"].tolist() == data["s"]
        assert np.array_equal(out["f"], data["f"])
        store.close()
        sizes[comp] = (tmp_path / comp / "data.mdb").stat().st_size
    raw = n * (8 + 8 + 5)  # at least the values themselves
    assert sizes["none"] > raw, sizes
    assert sizes["lz4"] < sizes["none"] / 2, sizes
    assert sizes["zstd"] < sizes["lz4"] * 0.8, sizes


def test_empty_and_non_contiguous(lib):
    out = roundtrip(lib, {"i": np.array([], dtype=np.int32), "s": np.array([], dtype=object)})
    assert out["i"].dtype == np.int32 and len(out["i"]) == 0 and len(out["s"]) == 0
    base = np.arange(21, dtype=np.int64)
    out = roundtrip(lib, {"strided": base[::3], "rev": base[::-3]})
    assert out["strided"].tolist() == base[::3].tolist()
    assert out["rev"].tolist() == base[::-3].tolist()
    big_endian = np.arange(4, dtype=">i4")
    assert roundtrip(lib, {"be": big_endian})["be"].tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "data, exc, words",
    [
        ({"m": [1, "a", 2]}, TypeError, ["'m'", "mixes"]),
        ({"m": np.array([1, "a"], dtype=object)}, TypeError, ["mixes"]),
        ({"o": [object()]}, TypeError, ["'o'", "object"]),
        ({"a": [1, 2], "b": [1]}, ValueError, ["lengths"]),
        ({"a": np.zeros((2, 2))}, ValueError, ["one-dimensional"]),
        ({"a": 5}, TypeError, ["numpy array or a list"]),
        ({1: [1]}, TypeError, ["str"]),
        ({"c": np.array([1 + 2j])}, TypeError, ["complex"]),
        (
            {"t": [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)]},
            TypeError,
            ["naive"],
        ),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(lib, data, exc, words):
    with pytest.raises(exc) as info:
        lib.write("s", data)
    for w in words:
        assert w in str(info.value), str(info.value)
    assert "s" not in lib


def test_unsupported_input_type(lib):
    with pytest.raises(TypeError) as info:
        lib.write("s", 42)
    assert "cannot write" in str(info.value)


def test_columns_raw_address_export_and_import():
    from sheaf import _arrow_c, _lib

    cols = sheaf.Columns({"a": np.arange(3), "s": ["x", None, "z"]})
    stream = _lib.ffi.new("struct ArrowArrayStream *")
    cols._export_to_c(int(_lib.ffi.cast("uintptr_t", stream)))
    back = _arrow_c.import_columns(stream)
    assert stream.release == _lib.ffi.NULL
    assert back["a"].tolist() == [0, 1, 2] and back["s"].tolist() == ["x", None, "z"]
    assert not _arrow_c._LIVE  # every exported struct was released


def test_object_with_export_to_c_is_accepted(lib):
    class Producer:
        def _export_to_c(self, address):
            sheaf.Columns({"v": np.array([7, 8])})._export_to_c(address)

    lib.write("s", Producer())
    assert lib.read("s").data["v"].tolist() == [7, 8]


def test_nothing_leaks_after_writes(lib):
    from sheaf import _arrow_c

    for _ in range(3):
        lib.write("s", {"a": np.arange(10), "s": ["q"] * 10})
    with pytest.raises(TypeError):
        lib.write("s", {"a": [1, "x"]})
    assert not _arrow_c._LIVE


@pytest.mark.skipif(
    not sheaf._capsule.AVAILABLE if hasattr(sheaf, "_capsule") else True,
    reason="PyCapsules need ctypes.pythonapi (CPython)",
)
def test_capsule_protocol_round_trip(lib):
    cols = sheaf.Columns(
        {"a": np.arange(4), "t": np.array([1, 2, 3, 4], dtype="datetime64[s]")},
        timezones={"t": "UTC"},
    )

    class Wrapper:
        def __arrow_c_stream__(self, requested_schema=None):
            return cols.__arrow_c_stream__(requested_schema)

    lib.write("s", Wrapper())
    out = lib.read("s").data
    assert out["a"].tolist() == [0, 1, 2, 3] and out.timezones == {"t": "UTC"}
    # an unconsumed capsule releases its stream when collected
    from sheaf import _arrow_c, _capsule

    cap = cols.__arrow_c_stream__()
    assert _capsule._OWNED
    del cap
    import gc

    gc.collect()
    assert not _capsule._OWNED and not _arrow_c._LIVE
