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
