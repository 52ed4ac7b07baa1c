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
