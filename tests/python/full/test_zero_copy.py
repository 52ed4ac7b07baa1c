"""pyarrow reads share the buffers the library exported (no copy)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

import sheaf
from sheaf import _lib

ffi, clib = _lib.ffi, _lib.lib


def test_pyarrow_import_keeps_library_buffer_addresses(lib):
    lib.write("s", {"a": np.arange(100_000, dtype=np.int64), "b": np.random.rand(100_000)})
    stream = ffi.new("struct ArrowArrayStream *")
    slot = _lib.errslot()
    _lib.check(
        clib.sheaf_table_read(lib._h, b"s", 1, ffi.NULL, 0, stream, ffi.NULL, ffi.NULL, slot), slot
    )
    schema = ffi.new("struct ArrowSchema *")
    array = ffi.new("struct ArrowArray *")
    try:
        assert stream.get_schema(stream, schema) == 0
        assert stream.get_next(stream, array) == 0 and array.release != ffi.NULL
        exported = [int(ffi.cast("uintptr_t", array.children[i].buffers[1])) for i in range(2)]
        batch = pa.RecordBatch._import_from_c(
            int(ffi.cast("uintptr_t", array)), int(ffi.cast("uintptr_t", schema))
        )
    finally:
        stream.release(stream)
    imported = [batch.column(i).buffers()[1].address for i in range(2)]
    assert imported == exported
    assert batch.column(0).to_numpy()[-1] == 99_999


def test_library_read_to_pyarrow_allocates_nothing_in_pyarrow(lib):
    n = 2_000_000
    lib.write("s", {f"c{i}": np.random.rand(n) for i in range(4)})  # 64 MB
    before = pa.total_allocated_bytes()
    table = lib.read("s", output_format="pyarrow").data
    after = pa.total_allocated_bytes()
    assert table.num_rows == n and table.nbytes >= 64_000_000
    # pyarrow's own pool did not receive the data: the buffers are the library's
    assert after - before < 1_000_000, after - before
    # and the numbers are right
    assert np.array_equal(
        table.column("c0").to_numpy(), lib.read("s", output_format="numpy").data["c0"]
    )


def test_numpy_columns_export_without_copy():
    from sheaf import _arrow_c

    arr = np.arange(1000, dtype=np.float64)
    stream = ffi.new("struct ArrowArrayStream *")
    sheaf.Columns({"x": arr})._export_to_c(int(ffi.cast("uintptr_t", stream)))
    reader = pa.RecordBatchReader._import_from_c(int(ffi.cast("uintptr_t", stream)))
    batch = reader.read_next_batch()
    assert batch.column(0).buffers()[1].address == arr.ctypes.data
    del batch, reader
    assert not _arrow_c._LIVE


def _stats(lib):
    import json

    out = ffi.new("SheafBytes *")
    slot = _lib.errslot()
    _lib.check(clib.sheaf_library_stats(lib._h, out, slot), slot)
    return json.loads(_lib.take_bytes(out))


def _segmented(store, name="segmented"):
    return store.create_library(name, library_options=sheaf.LibraryOptions(rows_per_segment=1000))


def test_a_read_to_pyarrow_is_one_chunk_per_column_viewed_by_numpy(store):
    import pandas as pd

    lib = _segmented(store)
    n = 4500  # five segments
    index = pd.date_range("2024-01-01", periods=n, freq="s", name="time")
    df = pd.DataFrame({"a": np.arange(n, dtype=np.int64), "b": np.linspace(0, 1, n)}, index=index)
    lib.write("s", df)
    before = _stats(lib)
    table = lib.read("s", output_format="pyarrow").data
    after = _stats(lib)
    assert after["reads_assembled_in_place"] == before["reads_assembled_in_place"] + 1
    assert after["segments_loaded"] - before["segments_loaded"] == 5
    for name in ("a", "b", "time"):
        column = table.column(name)
        assert column.num_chunks == 1
        values = column.chunk(0).to_numpy(zero_copy_only=True)
        assert values.__array_interface__["data"][0] == column.chunk(0).buffers()[1].address
    assert table.column("a").to_pylist() == list(range(n))


def test_a_pandas_read_gives_writable_columns_with_the_stored_values(store):
    import pandas as pd
    from pandas.testing import assert_frame_equal

    lib = _segmented(store)
    n = 3500
    index = pd.date_range("2024-01-01", periods=n, freq="min", name="time")
    df = pd.DataFrame(
        {
            "f": np.random.default_rng(1).standard_normal(n),
            "i": np.arange(n, dtype=np.int32),
            "u": np.arange(n, dtype=np.uint16),
            "t": pd.date_range("2000-01-01", periods=n, freq="h"),
            "s": [f"row {i}" for i in range(n)],
        },
        index=index,
    )
    lib.write("s", df)
    got = lib.read("s").data
    assert_frame_equal(got, df, check_freq=False)
    # Columns the read handed over without a copy are the frame's own: writable, and
    # independent of any later read.
    got.iloc[0, 0] = 42.0
    got.iloc[1, 1] = -7
    got.loc[got.index[2], "t"] = pd.Timestamp("1999-12-31")
    assert got.iloc[0, 0] == 42.0 and got.iloc[1, 1] == -7
    again = lib.read("s").data
    assert_frame_equal(again, df, check_freq=False)
    # Selections and ranges take the same path.
    part = lib.read("s", columns=["i"], date_range=(index[1500], index[2600])).data
    assert_frame_equal(part, df[["i"]].iloc[1500:2601], check_freq=False)
    part.iloc[0, 0] = 1
    assert part.iloc[0, 0] == 1


def test_a_read_of_two_columns_decodes_only_those(store):
    lib = _segmented(store)
    n = 3000
    lib.write("s", {f"c{i}": np.arange(n, dtype=np.float64) * i for i in range(10)})
    before = _stats(lib)["bytes_decoded"]
    cols = lib.read("s", columns=["c3", "c7"], output_format="numpy").data
    assert list(cols) == ["c3", "c7"]
    assert _stats(lib)["bytes_decoded"] - before == 2 * n * 8
    assert cols["c7"][-1] == (n - 1) * 7.0
