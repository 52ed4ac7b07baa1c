"""Every input kind, every output format, and the Arrow stream protocol on results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import sheaf

EXPECTED = {
    "i": [1, 2, None],
    "f": [0.5, None, 2.5],
    "s": ["a", None, "ç"],
    "b": [True, False, None],
}


def expected_table():
    return pa.table(
        {
            "i": pa.array(EXPECTED["i"], pa.int64()),
            "f": pa.array(EXPECTED["f"], pa.float64()),
            "s": pa.array(EXPECTED["s"], pa.string()),
            "b": pa.array(EXPECTED["b"], pa.bool_()),
        }
    )


class StreamOnly:
    """Any object with __arrow_c_stream__ (here wrapping a pyarrow table)."""

    def __init__(self, table):
        self.table = table

    def __arrow_c_stream__(self, requested_schema=None):
        return self.table.__arrow_c_stream__(requested_schema)


INPUTS = {
    "pyarrow.Table": expected_table,
    "pyarrow.RecordBatch": lambda: expected_table().to_batches()[0],
    "pyarrow.RecordBatchReader": lambda: expected_table().to_reader(),
    "polars.DataFrame": lambda: pl.DataFrame(EXPECTED),
    "dict of lists": lambda: dict(EXPECTED),
    "dict of numpy": lambda: {
        "i": np.ma.MaskedArray([1, 2, 0], mask=[0, 0, 1]),
        "f": np.ma.MaskedArray([0.5, 0, 2.5], mask=[0, 1, 0]),
        "s": np.array(["a", None, "ç"], dtype=object),
        "b": np.ma.MaskedArray([True, False, False], mask=[0, 0, 1]),
    },
    "__arrow_c_stream__": lambda: StreamOnly(expected_table()),
    "sheaf.Columns": lambda: sheaf.Columns(dict(EXPECTED)),
}


def as_lists(data, fmt):
    if fmt == "pyarrow":
        return data.to_pydict()
    if fmt == "polars":
        return data.to_dict(as_series=False)
    if fmt == "numpy":
        return {k: v.tolist() for k, v in data.items()}
    out = {}
    for k in data.columns:
        out[k] = [None if pd.isna(v) else v for v in data[k].tolist()]
    return out


@pytest.mark.parametrize("kind", sorted(INPUTS))
@pytest.mark.parametrize("fmt", ["pandas", "pyarrow", "polars", "numpy"])
def test_every_input_every_output(lib, kind, fmt):
    lib.write("s", INPUTS[kind]())
    data = lib.read("s", output_format=fmt).data
    got = as_lists(data, fmt)
    if kind == "polars.DataFrame" and fmt == "pandas":
        got["i"] = [None if v is None else int(v) for v in got["i"]]
    assert got == EXPECTED
    if fmt == "pyarrow":
        assert data.schema.field("s").type in (pa.string(), pa.large_string())


def test_output_types(lib):
    lib.write("s", expected_table())
    assert isinstance(lib.read("s", output_format="pandas").data, pd.DataFrame)
    assert isinstance(lib.read("s", output_format="pyarrow").data, pa.Table)
    assert isinstance(lib.read("s", output_format="polars").data, pl.DataFrame)
    assert isinstance(lib.read("s", output_format="numpy").data, sheaf.Columns)


@pytest.mark.parametrize("fmt", ["pandas", "pyarrow", "polars", "numpy"])
def test_results_implement_arrow_c_stream(lib, fmt):
    lib.write("s", expected_table())
    data = lib.read("s", output_format=fmt).data
    assert hasattr(data, "__arrow_c_stream__")
    table = pa.RecordBatchReader.from_stream(data).read_all()  # through the capsule protocol
    assert table.column("i").to_pylist() == EXPECTED["i"]
    assert table.column("s").to_pylist() == EXPECTED["s"]


def test_columns_feed_polars_and_pyarrow_directly(lib):
    lib.write("s", {"t": np.array([1, 2], dtype="datetime64[ms]"), "v": [1.5, 2.5]})
    cols = lib.read("s", output_format="numpy").data
    assert pl.DataFrame(cols)["v"].to_list() == [1.5, 2.5]
    # pa.table() takes any dict through its dict path; the stream protocol carries time zones
    assert pa.table(cols).column("v").to_pylist() == [1.5, 2.5]
    stream = pa.RecordBatchReader.from_stream(cols)
    assert stream.schema.field("t").type == pa.timestamp("ms")
    cols.timezones["t"] = "Asia/Tokyo"
    t = pa.RecordBatchReader.from_stream(cols).read_all()
    assert t.schema.field("t").type == pa.timestamp("ms", tz="Asia/Tokyo")
    assert t.column("t").to_pylist()[1].isoformat() == "1970-01-01T09:00:00.002000+09:00"


def test_output_format_precedence():
    store = sheaf.open("mem://", output_format="pyarrow")
    store.create_library("l").write("s", {"a": [1]})
    lib = store["l"]
    assert isinstance(lib.read("s").data, pa.Table)
    lib.output_format = "polars"
    assert isinstance(lib.read("s").data, pl.DataFrame)
    assert isinstance(lib.read("s", output_format="numpy").data, sheaf.Columns)
    assert isinstance(store.get_library("l", output_format="numpy").read("s").data, sheaf.Columns)
    store.output_format = "pandas"
    assert isinstance(store["l"].read("s").data, pd.DataFrame)


def test_polars_types_round_trip(lib):
    df = pl.DataFrame(
        {
            "d": pl.Series([1, 2], dtype=pl.Date).cast(pl.Date),
            "t": pl.Series(["2024-01-01 00:00", "2024-01-02 00:00"]).str.to_datetime(
                time_unit="us", time_zone="UTC"
            ),
            "s": ["x", "y"],
            "c": pl.Series(["a", "b"], dtype=pl.Categorical),
        }
    )
    lib.write("s", df)
    out = lib.read("s", output_format="polars").data
    assert out["s"].to_list() == ["x", "y"]
    assert out["d"].to_list() == df["d"].to_list()
    assert out["t"].to_list() == df["t"].to_list()
    assert out["c"].cast(pl.String).to_list() == ["a", "b"]


def test_index_rule_with_pyarrow_input(lib):
    t = pa.table({"ts": pa.array([3, 1, 2], pa.timestamp("s")), "v": [1, 2, 3]})
    lib.write("s", t)  # no pandas index -> no Sheaf index by default
    assert lib.read("s").index is None
    with pytest.raises(sheaf.UnsortedIndexError):
        lib.write("s", t, index="ts")


def test_unsupported_arrow_type_names_the_column(lib):
    t = pa.table({"ok": [1], "lst": pa.array([[1, 2]], pa.list_(pa.int64()))})
    with pytest.raises(sheaf.UnsupportedTypeError) as info:
        lib.write("s", t)
    assert "lst" in str(info.value) and isinstance(info.value, TypeError)


def test_polars_marks_an_ascending_index_sorted(lib):
    ts = pd.date_range("2024-01-01", periods=6, freq="h")
    lib.write("up", pd.DataFrame({"v": range(6)}, index=pd.Index(ts, name="ts")))
    lib.write("plain", pd.DataFrame({"v": [3, 1, 2]}))
    unsorted = pd.DataFrame({"v": [1, 2, 3]}, index=pd.Index(ts[[2, 0, 1]], name="ts"))
    lib.write("down", unsorted, validate_index=False)
    frame = lib.read("up", output_format="polars").data
    assert frame.get_column("ts").flags["SORTED_ASC"]
    assert not frame.get_column("v").flags["SORTED_ASC"]
    ranged = lib.read("up", output_format="polars", date_range=(ts[1], ts[3])).data
    assert ranged.get_column("ts").flags["SORTED_ASC"] and ranged.height == 3
    q = sheaf.QueryBuilder()
    filtered = lib.read("up", output_format="polars", query_builder=q[q["v"] > 2]).data
    assert filtered.get_column("ts").flags["SORTED_ASC"] and filtered.height == 3
    # An index written without validation may be out of order: no flag then.
    assert not lib.read("down", output_format="polars").data.get_column("ts").flags["SORTED_ASC"]
    assert lib.read_metadata("up").index == "ts"
    assert not any(
        c.flags["SORTED_ASC"] for c in lib.read("plain", output_format="polars").data.get_columns()
    )


def test_arrow_string_formats_per_store_library_read_and_column(store, lib):
    lib.write("s", pa.table({"a": ["x", None, "yy"], "b": ["p", "q", "p"], "n": [1, 2, 3]}))

    def types(table):
        return {f.name: f.type for f in table.schema}

    stored = lib.read("s", output_format="pyarrow").data
    assert types(stored)["a"] == types(stored)["b"] == pa.string()  # as written
    assert types(stored)["n"] == pa.int64()
    views = lib.read("s", output_format="pyarrow", arrow_string_format_default="string_view")
    assert types(views.data)["a"] == types(views.data)["b"] == pa.string_view()
    assert views.data.column("a").to_pylist() == ["x", None, "yy"]
    mixed = lib.read(
        "s",
        output_format="pyarrow",
        arrow_string_format_default=pa.large_string(),
        arrow_string_format_per_column={"b": "categorical"},
    ).data
    assert types(mixed)["a"] == pa.large_string()
    assert pa.types.is_dictionary(types(mixed)["b"])
    assert mixed.column("b").to_pylist() == ["p", "q", "p"]
    assert mixed.column("b").chunk(0).dictionary.to_pylist() == ["p", "q"]
    # The library's default, then the store's, apply when a read names none.
    lib.arrow_string_format_default = "LARGE_STRING"  # ArcticDB's spelling
    assert types(lib.read("s", output_format="pyarrow").data)["a"] == pa.large_string()
    lib.arrow_string_format_default = None
    store.arrow_string_format_default = "string_view"
    other = store.get_library("lib")
    assert types(other.read("s", output_format="pyarrow").data)["a"] == pa.string_view()
    polars_frame = other.read("s", output_format="polars").data
    assert polars_frame.get_column("a").to_list() == ["x", None, "yy"]
    assert other.read("s", arrow_string_format_default="string").data["a"].tolist()[0] == "x"
    store.arrow_string_format_default = None
    # Through a query too, and refusals that name what is wrong.
    q = sheaf.QueryBuilder()
    q = q[q["n"] > 1]
    queried = lib.read(
        "s", output_format="pyarrow", query_builder=q, arrow_string_format_default="large_string"
    ).data
    assert types(queried)["a"] == pa.large_string() and queried.num_rows == 2
    with pytest.raises(sheaf.SchemaError, match="'n'"):
        lib.read("s", output_format="pyarrow", arrow_string_format_per_column={"n": "string"})
    with pytest.raises(sheaf.SchemaError, match="'zz'"):
        lib.read("s", output_format="pyarrow", arrow_string_format_per_column={"zz": "string"})
    with pytest.raises(ValueError, match="string_view"):
        lib.read("s", output_format="pyarrow", arrow_string_format_default="utf16")
    with pytest.raises(ValueError):
        lib.arrow_string_format_default = pa.int64()
