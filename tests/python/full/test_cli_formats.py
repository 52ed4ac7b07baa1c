"""``sheaf export`` and ``sheaf import`` (sheaf/cli.py) through pyarrow: Parquet, CSV and Arrow
IPC round trips, the index kept, ``--append``, an older version exported with ``--as-of``,
stdin and stdout, and the exit codes of unreadable or missing files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from pyarrow import ipc

import sheaf
from sheaf import cli

DAY_NS = 86_400 * 10**9


def days(start, n):
    return (np.arange(start, start + n, dtype=np.int64) * DAY_NS + 1_704_067_200 * 10**9).astype(
        "datetime64[ns]"
    )


@pytest.fixture
def store_uri(tmp_path):
    """Library ``prices``: ``eurusd`` indexed by ``time`` (version 0: 4 rows; version 1: 6),
    ``misc`` without index (strings with a null, a float NaN)."""
    uri = "lmdb://" + str(tmp_path / "store")
    store = sheaf.open(uri, output_format="numpy")
    lib = store.create_library("prices")
    lib.write(
        "eurusd",
        {"time": days(0, 4), "bid": [1.0, 1.5, 2.0, 2.5], "n": np.arange(4)},
        index="time",
    )
    lib.append("eurusd", {"time": days(4, 2), "bid": [3.0, 3.5], "n": np.arange(4, 6)})
    lib.write("misc", {"s": ["x", None, "z"], "f": [0.25, float("nan"), -1.0]})
    store.close()
    return uri


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read(uri, library, symbol, **kwargs):
    with sheaf.open(uri) as store:
        return store[library].read(symbol, output_format="pyarrow", **kwargs)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("out.parquet", "parquet"),
        ("out.pq", "parquet"),
        ("out.arrow", "arrow"),
        ("out.feather", "arrow"),
        ("out.ipc", "arrow"),
        ("out.csv", "csv"),
    ],
)
def test_export_guesses_the_format_from_the_extension(capsys, store_uri, tmp_path, name, fmt):
    path = tmp_path / name
    code, out, err = run(capsys, store_uri, "export", "prices", "eurusd", path, "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "library": "prices",
        "symbol": "eurusd",
        "version": 1,
        "rows": 6,
        "file": str(path),
        "format": fmt,
    }
    if fmt == "parquet":
        table = pq.read_table(path)
    elif fmt == "arrow":
        table = ipc.open_file(path).read_all()
    else:
        table = pacsv.read_csv(path)
    assert table.column("bid").to_pylist() == [1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    assert table.column("n").to_pylist() == list(range(6))
    times = table.column("time").cast(pa.timestamp("ns")).to_pylist()
    assert [t.day for t in times] == [1, 2, 3, 4, 5, 6]
    if fmt != "csv":
        assert table.schema.metadata[b"sheaf.index"] == b"time"
    assert list(tmp_path.iterdir()) == [path, tmp_path / "store"] or sorted(
        p.name for p in tmp_path.iterdir()
    ) == sorted([name, "store"])  # no temporary file left behind


@pytest.mark.parametrize("fmt", ["parquet", "arrow", "csv"])
def test_round_trip_keeps_rows_types_and_index(capsys, store_uri, tmp_path, fmt):
    path = tmp_path / f"eurusd.{fmt}"
    assert run(capsys, store_uri, "export", "prices", "eurusd", path)[0] == 0
    index_args = ["--index", "time"] if fmt == "csv" else []  # CSV has no schema metadata
    code, out, err = run(capsys, store_uri, "import", "copies", "eurusd", path, *index_args)
    assert (code, err) == (0, "")
    assert out.strip() == (f"wrote 6 rows from {path} ({fmt}): copies/eurusd version 0, 6 rows")
    original = read(store_uri, "prices", "eurusd").data
    copy = read(store_uri, "copies", "eurusd")
    assert copy.index == "time"
    assert copy.data.column("bid").to_pylist() == original.column("bid").to_pylist()
    assert copy.data.column("n").to_pylist() == original.column("n").to_pylist()
    assert (
        copy.data.column("time").cast(pa.timestamp("ns")).to_pylist()
        == original.column("time").to_pylist()
    )
    if fmt != "csv":
        assert copy.data.schema.field("time").type == pa.timestamp("ns")
        assert b"sheaf.index" not in (copy.data.schema.metadata or {})


@pytest.mark.parametrize("fmt", ["parquet", "arrow", "csv"])
def test_nulls_and_nan_round_trip(capsys, store_uri, tmp_path, fmt):
    path = tmp_path / f"misc.{fmt}"
    assert run(capsys, store_uri, "export", "prices", "misc", path)[0] == 0
    assert run(capsys, store_uri, "import", "copies", "misc", path)[0] == 0
    data = read(store_uri, "copies", "misc").data
    assert data.column("s").to_pylist()[0::2] == ["x", "z"]
    # CSV cannot tell an empty string from a null; the other formats keep the null
    assert data.column("s").to_pylist()[1] in ((None,) if fmt != "csv" else (None, ""))
    f = data.column("f").to_pylist()
    assert f[0] == 0.25 and f[2] == -1.0 and (f[1] is None or f[1] != f[1])


def test_export_an_older_version_with_as_of(capsys, store_uri, tmp_path):
    path = tmp_path / "v0.parquet"
    code, out, _ = run(capsys, store_uri, "export", "prices", "eurusd", path, "--as-of", "0")
    assert code == 0
    assert out.strip() == f"wrote 4 rows of prices/eurusd version 0 to {path} (parquet)"
    assert pq.read_table(path).column("n").to_pylist() == [0, 1, 2, 3]
    path = tmp_path / "cols.arrow"
    code, _, _ = run(
        capsys, store_uri, "export", "prices", "eurusd", path, "--as-of", "-1", "--columns", "n"
    )
    assert code == 0
    assert ipc.open_file(path).read_all().column_names == ["time", "n"]


def test_import_append_adds_a_version(capsys, store_uri, tmp_path):
    more = pa.table(
        {
            "time": pa.array(days(6, 2), type=pa.timestamp("ns")),
            "bid": [4.0, 4.5],
            "n": pa.array([6, 7], type=pa.int64()),
        }
    )
    path = tmp_path / "more.parquet"
    pq.write_table(more, path)
    code, out, err = run(
        capsys, store_uri, "import", "prices", "eurusd", path, "--append", "--json"
    )
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "library": "prices",
        "symbol": "eurusd",
        "version": 2,
        "rows_imported": 2,
        "rows": 8,
        "index": "time",
        "appended": True,
    }
    data = read(store_uri, "prices", "eurusd").data
    assert data.column("n").to_pylist() == list(range(8))
    # versions 0 and 1 are still there
    assert read(store_uri, "prices", "eurusd", as_of=1).data.num_rows == 6


def test_import_append_from_csv_casts_to_the_stored_types(capsys, store_uri, tmp_path):
    # CSV infers int64 for "bid" here and a second-resolution timestamp: cast to the stored ones
    path = tmp_path / "more.csv"
    path.write_text("n,bid,time\n6,4,2024-01-07T00:00:00\n7,5,2024-01-08T00:00:00\n")
    code, out, err = run(capsys, store_uri, "import", "prices", "eurusd", path, "--append")
    assert code == 0, err
    assert out.strip() == f"appended 2 rows from {path} (csv): prices/eurusd version 2, 8 rows"
    data = read(store_uri, "prices", "eurusd").data
    assert data.column("bid").to_pylist()[-2:] == [4.0, 5.0]
    assert data.schema.field("bid").type == pa.float64()
    assert [t.day for t in data.column("time").to_pylist()[-2:]] == [7, 8]


def test_an_append_that_goes_back_in_time_is_refused(capsys, store_uri, tmp_path):
    path = tmp_path / "old.parquet"
    pq.write_table(
        pa.table({"time": pa.array(days(0, 1), type=pa.timestamp("ns")), "bid": [9.0], "n": [9]}),
        path,
    )
    code, _out, err = run(capsys, store_uri, "import", "prices", "eurusd", path, "--append")
    assert code == 4 and "SHEAF_ERR_UNSORTED_INDEX" in err and "Traceback" not in err
    assert read(store_uri, "prices", "eurusd").version == 1  # nothing committed


def test_import_metadata_and_no_index(capsys, store_uri, tmp_path):
    path = tmp_path / "eurusd.parquet"
    assert run(capsys, store_uri, "export", "prices", "eurusd", path)[0] == 0
    code, _, err = run(
        capsys, store_uri, "import", "p2", "plain", path, "--no-index", "--metadata", '{"a": 1}'
    )
    assert code == 0, err
    with sheaf.open(store_uri) as store:
        item = store["p2"].read_metadata("plain")
        assert item.metadata == {"a": 1}
        assert store["p2"].get_description("plain").index is None


def test_a_pandas_parquet_file_keeps_its_datetime_index(capsys, store_uri, tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"v": [1, 2, 3]}, index=pd.date_range("2024-03-01", periods=3, name="day"))
    path = tmp_path / "frame.parquet"
    frame.to_parquet(path)
    assert run(capsys, store_uri, "import", "pd", "frame", path)[0] == 0
    with sheaf.open(store_uri) as store:
        item = store["pd"].read("frame", output_format="pandas")
    assert item.index == "day"
    assert item.data["v"].tolist() == [1, 2, 3]
    assert list(item.data.index.day) == [1, 2, 3]


def test_stdout_and_stdin(store_uri, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sheaf",
            store_uri,
            "export",
            "prices",
            "eurusd",
            "-",
            "--format",
            "csv",
        ],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert lines[0] == '"time","bid","n"' and len(lines) == 7
    proc2 = subprocess.run(
        [
            sys.executable,
            "-m",
            "sheaf",
            store_uri,
            "import",
            "piped",
            "eurusd",
            "-",
            "--format",
            "csv",
            "--index",
            "time",
        ],
        input=proc.stdout,
        capture_output=True,
        check=False,
    )
    assert proc2.returncode == 0, proc2.stderr
    assert read(store_uri, "piped", "eurusd").data.column("n").to_pylist() == list(range(6))
    proc3 = subprocess.run(
        [
            sys.executable,
            "-m",
            "sheaf",
            store_uri,
            "export",
            "prices",
            "eurusd",
            "-",
            "--format",
            "arrow",
        ],
        capture_output=True,
        check=False,
    )
    assert proc3.returncode == 0
    assert ipc.open_file(pa.py_buffer(proc3.stdout)).read_all().num_rows == 6


def test_the_arrow_stream_format_is_read_too(capsys, store_uri, tmp_path):
    path = tmp_path / "stream.arrows"
    table = pa.table({"a": [1, 2, 3]})
    with ipc.new_stream(path, table.schema) as writer:
        writer.write_table(table)
    code, _, err = run(capsys, store_uri, "import", "s", "t", path, "--format", "arrow")
    assert code == 0, err
    assert read(store_uri, "s", "t").data.column("a").to_pylist() == [1, 2, 3]


def test_file_errors_have_their_exit_codes(capsys, store_uri, tmp_path):
    code, _, err = run(capsys, store_uri, "import", "prices", "x", tmp_path / "missing.parquet")
    assert code == 3 and "no such file" in err
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"this is not parquet")
    code, _, err = run(capsys, store_uri, "import", "prices", "x", bad)
    assert code == 4 and err.startswith("sheaf: error: cannot read") and "Traceback" not in err
    code, _, err = run(capsys, store_uri, "import", "prices", "x", tmp_path / "x.txt")
    assert code == 2 and "cannot tell the format" in err
    code, _, err = run(capsys, store_uri, "export", "prices", "nope", tmp_path / "n.csv")
    assert code == 3 and "SHEAF_ERR_NO_SUCH_SYMBOL" in err
    assert not (tmp_path / "n.csv").exists()
    code, _, err = run(capsys, store_uri, "export", "prices", "eurusd", tmp_path / "no" / "x.csv")
    assert code == 3, err
    with sheaf.open(store_uri) as store:
        assert store["prices"].list_symbols() == ["eurusd", "misc"]
    # a failed import creates neither the library nor the store
    code, _, _ = run(capsys, store_uri, "import", "newlib", "x", tmp_path / "missing.csv")
    assert code == 3
    code, _, _ = run(capsys, store_uri, "import", "newlib", "x", bad)
    assert code == 4
    with sheaf.open(store_uri) as store:
        assert store.list_libraries() == ["prices"]
    code, _, _ = run(capsys, tmp_path / "new-store", "import", "l", "x", tmp_path / "missing.csv")
    assert code == 3 and not (tmp_path / "new-store").exists()


def test_the_installed_console_script(store_uri):
    import os
    import shutil

    script = os.path.join(os.path.dirname(sys.executable), "sheaf")
    if not os.path.exists(script):
        script = shutil.which("sheaf") or ""
    if not script:
        pytest.skip("the sheaf console script is not installed next to this interpreter")
    proc = subprocess.run(
        [script, store_uri, "symbols", "prices", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["eurusd", "misc"]


WRITER = r"""
import sys, time
import numpy as np, pyarrow as pa, sheaf

store = sheaf.open(sys.argv[1])
lib = store.get_library("prices")
schema = pa.schema([("v", pa.int64())])

def batches():
    for i in range(40):  # 40 x 800 kB: several storage transactions of about 8 MB
        yield pa.record_batch([pa.array(np.arange(100_000) + i)], schema=schema)
    print("ready", flush=True)
    time.sleep(600)  # killed here, inside the write
    yield from ()

lib.write("big", pa.RecordBatchReader.from_batches(schema, batches()))
"""


def test_reclaim_removes_what_a_killed_writer_left(capsys, store_uri, tmp_path):
    # (Here, not in portable/, because the writer streams batches through pyarrow.)
    import time

    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writer = subprocess.Popen(
        [sys.executable, str(script), store_uri], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while True:  # the writer's last transaction may still be committing
            code, out, _ = run(capsys, store_uri, "verify", "--json")
            leftovers = json.loads(out)["leftovers"]
            if leftovers or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        writer.kill()
        writer.wait()
    assert code == 0 and leftovers
    assert {x["kind"] for x in leftovers} == {"unreferenced_segment"}
    n = len(leftovers)
    code, out, _ = run(capsys, store_uri, "verify")
    leftover_text = f"{n} leftover" + ("s" if n != 1 else "")
    assert code == 0 and out.splitlines()[0].endswith(f": 0 problems, {leftover_text}")
    assert "unreferenced_segment" in out
    # young segments are kept by the default grace period of a day...
    code, out, _ = run(capsys, store_uri, "reclaim", "--dry-run")
    assert code == 0 and out.splitlines()[0].startswith(f"would remove 0 keys; would keep {n} ")
    dry = json.loads(run(capsys, store_uri, "reclaim", "--dry-run", "--grace", "0", "--json")[1])
    assert (dry["removed_keys"], dry["kept_young_segments"]) == (n, 0)
    assert sorted(x["key"] for x in dry["would_remove"]) == sorted(x["key"] for x in leftovers)
    code, out, _ = run(capsys, store_uri, "reclaim")
    assert out.startswith(f"removed 0 keys; kept {n} unreferenced segments")
    # ...and removed with --grace 0
    code, out, _ = run(capsys, store_uri, "reclaim", "--grace", "0")
    assert code == 0 and out.startswith(f"removed {n} keys; kept 0 ")
    report = json.loads(run(capsys, store_uri, "verify", "--json")[1])
    assert report["leftovers"] == [] and report["problems"] == [] and report["ok"] is True
    assert read(store_uri, "prices", "eurusd").data.num_rows == 6


def test_no_validate_index_accepts_rows_out_of_order(capsys, store_uri, tmp_path):
    path = tmp_path / "unsorted.csv"
    path.write_text("time,v\n2024-01-02T00:00:00,2\n2024-01-01T00:00:00,1\n")
    code, _, err = run(capsys, store_uri, "import", "u", "s", path, "--index", "time")
    assert code == 4 and "SHEAF_ERR_UNSORTED_INDEX" in err
    code, _out, err = run(
        capsys, store_uri, "import", "u", "s", path, "--index", "time", "--no-validate-index"
    )
    assert code == 0, err
    assert read(store_uri, "u", "s").data.column("v").to_pylist() == [2, 1]


def test_export_streams_segment_by_segment_and_shows_progress(tmp_path, capsys):
    """A symbol of 12 segments exports batch by batch (the Parquet file gets one row group per
    stored segment, so nothing was gathered first), with a progress bar on request."""
    uri = "lmdb://" + str(tmp_path / "store")
    with sheaf.open(uri) as store:
        lib = store.create_library("big", sheaf.LibraryOptions(rows_per_segment=1000))
        lib.write("s", {"t": np.arange(11_500, dtype=np.int64), "x": np.arange(11_500) * 0.5})
    out_file = tmp_path / "s.parquet"
    code, out, err = run(capsys, uri, "export", "big", "s", out_file, "--progress")
    assert code == 0, err
    assert "wrote 11500 rows" in out
    assert "big/s export" in err and "rows" in err  # the tqdm bar, on stderr
    assert pq.ParquetFile(out_file).num_row_groups == 12
    back = pq.read_table(out_file)
    assert back.column("t").to_pylist() == list(range(11_500))

    code, out, err = run(capsys, uri, "import", "big", "copy", out_file, "--progress")
    assert code == 0, err
    assert "copy write" in err  # the library's own progress of the write
    assert read(uri, "big", "copy").data.column("x").to_pylist()[-1] == 11_499 * 0.5
