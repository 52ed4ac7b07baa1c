"""The ``sheaf`` command line (sheaf/cli.py) with numpy only, on every interpreter: each
command's text and JSON output on a store made here, the exit codes of its errors, and
``python -m sheaf`` as a process. Import and export (pyarrow) are in
``full/test_cli_formats.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import sheaf
from sheaf import cli

DAY_NS = 86_400 * 10**9


def days(start, n):
    """``n`` midnights from 2024-01-01 + ``start`` days, as datetime64[ns]."""
    base = np.datetime64("2024-01-01T00:00:00", "ns").astype("int64")
    return (base + np.arange(start, start + n, dtype=np.int64) * DAY_NS).astype("datetime64[ns]")


@pytest.fixture
def store_uri(tmp_path):
    """An LMDB store: library ``prices`` (``eurusd``: 5 rows, then 3 appended; ``flat``: no
    index, nulls and NaN; a snapshot ``eod`` of version 0 of both), an empty library ``empty``,
    a key space ``cache`` and a collection ``people``."""
    uri = "lmdb://" + str(tmp_path / "store")
    store = sheaf.open(uri, output_format="numpy")
    lib = store.create_library("prices", rows_per_segment=4)
    lib.write(
        "eurusd",
        {"time": days(0, 5), "bid": [1.10, 1.11, 1.12, 1.13, 1.14], "qty": np.arange(5)},
        metadata={"source": "ecb"},
        index="time",
    )
    lib.write(
        "flat",
        {
            "k": np.array([3, 1, 2], dtype=np.int64),
            "name": ["a", None, "c c"],
            "x": np.ma.masked_array([0.5, float("nan"), 2.0], mask=[False, False, True]),
            "ok": [True, False, True],
        },
    )
    lib.snapshot("eod", metadata={"note": "first"})
    lib.append("eurusd", {"time": days(5, 3), "bid": [1.15, 1.16, 1.17], "qty": np.arange(5, 8)})
    store.create_library("empty")
    kv = store.kv("cache")
    kv.put("job-1", b"x")
    kv.put("job-2", b"yy")
    kv.put("other", b"zzz")
    people = store.create_collection("people")
    people.store({"name": "Ada", "born": 1815})
    people.store({"name": "Alan", "born": 1912})
    store.close()
    return uri


def run(capsys, *argv):
    """``sheaf ARGV`` in this process: (exit code, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    assert err == ""
    return json.loads(out)


def table_rows(text):
    """The cells of an aligned table (header, dashes, rows; a trailing "(...)" line
    dropped), split on runs of two or more spaces."""
    import re

    lines = [line for line in text.splitlines() if line and not line.startswith("(")]
    assert set(lines[1].replace(" ", "")) == {"-"}, text
    return [re.split(r" {2,}", line.strip()) for line in [lines[0], *lines[2:]]]


# -- listing ---------------------------------------------------------------------------------------


def test_libraries_text_and_json(capsys, store_uri):
    code, out, err = run(capsys, store_uri, "libraries")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["empty", "prices"]
    assert run_json(capsys, store_uri, "libraries") == ["empty", "prices"]
    # --json before the command works too
    code, out, _ = run(capsys, "--json", store_uri, "libraries")
    assert code == 0 and json.loads(out) == ["empty", "prices"]


def test_symbols_with_regex_and_snapshot(capsys, store_uri):
    code, out, _ = run(capsys, store_uri, "symbols", "prices")
    assert code == 0 and out.splitlines() == ["eurusd", "flat"]
    assert run_json(capsys, store_uri, "symbols", "prices", "--regex", "^eu") == ["eurusd"]
    assert run_json(capsys, store_uri, "symbols", "prices", "--snapshot", "eod") == [
        "eurusd",
        "flat",
    ]
    assert run_json(capsys, store_uri, "symbols", "empty") == []


def test_versions(capsys, store_uri):
    docs = run_json(capsys, store_uri, "versions", "prices", "eurusd")
    assert [d["version"] for d in docs] == [1, 0]
    assert [d["rows"] for d in docs] == [8, 5]
    assert [d["snapshots"] for d in docs] == [[], ["eod"]]
    assert [d["deleted"] for d in docs] == [False, False]
    assert [d["has_metadata"] for d in docs] == [False, True]
    assert all(d["date"].endswith("+00:00") for d in docs)
    _code, out, _ = run(capsys, store_uri, "versions", "prices", "eurusd")
    rows = table_rows(out)
    assert rows[0] == ["version", "date", "rows", "deleted", "snapshots"]
    assert [(r[0], r[2]) for r in rows[1:]] == [("1", "8"), ("0", "5")]
    assert rows[2][-1] == "eod"


def test_snapshots(capsys, store_uri):
    assert run_json(capsys, store_uri, "snapshots", "prices") == [
        {"name": "eod", "metadata": {"note": "first"}}
    ]
    _code, out, _ = run(capsys, store_uri, "snapshots", "prices")
    assert table_rows(out) == [["snapshot", "metadata"], ["eod", '{"note": "first"}']]
    assert run_json(capsys, store_uri, "snapshots", "empty") == []


def test_spaces_and_their_keys(capsys, store_uri):
    assert run_json(capsys, store_uri, "spaces") == [{"name": "cache", "keys": 3}]
    doc = run_json(capsys, store_uri, "spaces", "cache", "--prefix", "job-")
    assert doc == {
        "space": "cache",
        "keys": 3,
        "entries": [{"key": "job-1", "length": 1}, {"key": "job-2", "length": 2}],
    }
    code, out, _ = run(capsys, store_uri, "spaces", "cache", "-n", "1")
    assert code == 0
    assert table_rows(out) == [["key", "length"], ["job-1", "1"]]
    assert "(1 key shown; 3 in the space)" in out


def test_collections_and_their_documents(capsys, store_uri):
    assert run_json(capsys, store_uri, "collections") == [
        {"name": "people", "documents": 2, "next_id": 2}
    ]
    doc = run_json(capsys, store_uri, "collections", "people", "--start", "1")
    assert doc == {
        "collection": "people",
        "documents": 2,
        "docs": [{"id": 1, "doc": {"name": "Alan", "born": 1912}}],
    }
    _code, out, _ = run(capsys, store_uri, "collections")
    assert table_rows(out) == [["collection", "documents", "next_id"], ["people", "2", "2"]]


# -- reading rows ----------------------------------------------------------------------------------


def test_head_prints_the_first_rows_as_a_table(capsys, store_uri):
    code, out, err = run(capsys, store_uri, "head", "prices", "eurusd", "-n", "3")
    assert (code, err) == (0, "")
    assert table_rows(out) == [
        ["time", "bid", "qty"],
        ["2024-01-01 00:00:00", "1.1", "0"],
        ["2024-01-02 00:00:00", "1.11", "1"],
        ["2024-01-03 00:00:00", "1.12", "2"],
    ]
    assert out.splitlines()[-1] == "(3 of 8 rows; version 1)"
    # numbers are right-aligned under their header
    header, _dashes, first = out.splitlines()[:3]
    assert header.index("bid") + len("bid") == first.index("1.1") + len("1.1")


def test_tail_as_of_columns_and_json(capsys, store_uri):
    doc = run_json(capsys, store_uri, "tail", "prices", "eurusd", "-n", "2")
    assert doc == {
        "library": "prices",
        "symbol": "eurusd",
        "version": 1,
        "total_rows": 8,
        "index": "time",
        "columns": ["time", "bid", "qty"],
        "rows": [
            {"time": "2024-01-07T00:00:00", "bid": 1.16, "qty": 6},
            {"time": "2024-01-08T00:00:00", "bid": 1.17, "qty": 7},
        ],
    }
    old = run_json(capsys, store_uri, "tail", "prices", "eurusd", "-n", "1", "--as-of", "0")
    assert (old["version"], old["total_rows"]) == (0, 5)
    assert old["rows"] == [{"time": "2024-01-05T00:00:00", "bid": 1.14, "qty": 4}]
    by_snapshot = run_json(
        capsys, store_uri, "tail", "prices", "eurusd", "-n", "1", "--as-of", "eod"
    )
    assert by_snapshot["rows"] == old["rows"]
    back = run_json(capsys, store_uri, "head", "prices", "eurusd", "-n", "1", "--as-of", "-2")
    assert back["version"] == 0
    # a date-time: the newest version written by then (both were written before 2200)
    late = run_json(
        capsys, store_uri, "head", "prices", "eurusd", "--as-of", "2200-01-01T00:00:00Z"
    )
    assert late["version"] == 1
    cols = run_json(capsys, store_uri, "head", "prices", "eurusd", "-n", "2", "--columns", "qty")
    assert cols["columns"] == ["time", "qty"]
    assert [r["qty"] for r in cols["rows"]] == [0, 1]


def test_nulls_nan_strings_and_bools(capsys, store_uri):
    doc = run_json(capsys, store_uri, "head", "prices", "flat")
    assert doc["index"] is None and doc["columns"] == ["k", "name", "x", "ok"]
    assert doc["rows"] == [
        {"k": 3, "name": "a", "x": 0.5, "ok": True},
        {"k": 1, "name": None, "x": None, "ok": False},  # NaN is null in JSON
        {"k": 2, "name": "c c", "x": None, "ok": True},
    ]
    _code, out, _ = run(capsys, store_uri, "head", "prices", "flat")
    assert table_rows(out) == [
        ["k", "name", "x", "ok"],
        ["3", "a", "0.5", "true"],
        ["1", "null", "NaN", "false"],
        ["2", "c c", "null", "true"],
    ]


def test_describe(capsys, store_uri):
    doc = run_json(capsys, store_uri, "describe", "prices", "eurusd", "--as-of", "0")
    assert doc["version"] == 0 and doc["rows"] == 5
    assert doc["index"]["name"] == "time" and doc["index_type"] == "timestamp"
    assert [c["name"] for c in doc["columns"]] == ["bid", "qty"]
    assert [c["dtype"] for c in doc["columns"]] == ["Float64", "Int64"]
    assert doc["date_range"][0].startswith("2024-01-01")
    assert doc["date_range"][1].startswith("2024-01-05")
    assert doc["metadata"] == {"source": "ecb"} and doc["has_metadata"] is True
    assert doc["segments"] == 2 and doc["sorted"] == "ASCENDING"
    code, out, _ = run(capsys, store_uri, "describe", "prices", "eurusd")
    assert code == 0
    lines = out.splitlines()
    assert "version:" in lines[2] and lines[2].split()[-1] == "1"
    assert any(line.startswith("rows:") and line.split()[-1] == "8" for line in lines)
    assert "column" in out and "Float64" in out
    assert "metadata:" not in out  # version 1 has none


def test_sizes_per_library_symbol_and_kind(capsys, store_uri):
    doc = run_json(capsys, store_uri, "sizes")
    assert sorted(doc["libraries"]) == ["empty", "prices"]
    prices = doc["libraries"]["prices"]
    assert prices["version"]["count"] == 3  # two versions of eurusd, one of flat
    assert prices["snapshot_ref"]["count"] == 1
    assert doc["libraries"]["empty"]["total_bytes"] == 0
    assert doc["total_bytes"] == prices["total_bytes"] > 0
    per_symbol = run_json(capsys, store_uri, "sizes", "prices")
    assert sorted(per_symbol["symbols"]) == ["eurusd", "flat"]
    assert per_symbol["total"]["total_bytes"] == prices["total_bytes"]
    one = run_json(capsys, store_uri, "sizes", "prices", "eurusd")
    assert one["sizes"]["version"]["count"] == 2
    assert one["sizes"] == per_symbol["symbols"]["eurusd"]
    code, out, _ = run(capsys, store_uri, "sizes", "prices", "eurusd")
    rows = table_rows(out)
    assert rows[0] == ["kind", "count", "bytes"]
    assert ["version", "2", str(one["sizes"]["version"]["bytes"])] in rows
    code, out, _ = run(capsys, store_uri, "sizes", "--human")
    assert code == 0 and " B" in out


def test_sql_store_wide_and_in_a_library_with_parameters(capsys, store_uri):
    doc = run_json(
        capsys,
        store_uri,
        "sql",
        "SELECT count(*) AS n, sum(qty) AS total FROM prices.eurusd WHERE bid > $1",
        "--param",
        "1.125",
    )
    assert doc == {"columns": ["n", "total"], "rows": [{"n": 5, "total": 3 + 4 + 5 + 6 + 7}]}
    doc = run_json(
        capsys,
        store_uri,
        "sql",
        "SELECT k, name FROM flat WHERE name = $1 OR k = $2 ORDER BY k",
        "--library",
        "prices",
        "-p",
        "str:a",
        "-p",
        "int:1",
    )
    assert doc["rows"] == [{"k": 1, "name": None}, {"k": 3, "name": "a"}]
    _code, out, _ = run(
        capsys, store_uri, "sql", "SELECT time, bid FROM prices.eurusd ORDER BY time LIMIT 2"
    )
    assert table_rows(out) == [
        ["time", "bid"],
        ["2024-01-01 00:00:00", "1.1"],
        ["2024-01-02 00:00:00", "1.11"],
    ]
    assert out.splitlines()[-1] == "(2 rows)"


def test_sql_timestamp_parameter(capsys, store_uri):
    doc = run_json(
        capsys,
        store_uri,
        "sql",
        "SELECT count(*) AS n FROM prices.eurusd WHERE time >= $1",
        "--param",
        "2024-01-06T00:00:00",
    )
    assert doc["rows"] == [{"n": 3}]


# -- maintenance -----------------------------------------------------------------------------------


def test_verify_and_reclaim_on_a_clean_store(capsys, store_uri):
    code, out, err = run(capsys, store_uri, "verify", "--no-progress")
    assert (code, err) == (0, "")
    first = out.splitlines()[0]
    assert first.startswith("checked ") and first.endswith(": 0 problems, 0 leftovers")
    report = run_json(capsys, store_uri, "verify")
    assert report["ok"] is True and report["problems"] == [] and report["leftovers"] == []
    assert report["checked"] > 5
    dry = run_json(capsys, store_uri, "reclaim", "--dry-run", "--grace", "0")
    assert dry == {
        "dry_run": True,
        "removed_keys": 0,
        "kept_young_segments": 0,
        "would_remove": [],
        "would_keep": [],
    }
    done = run_json(capsys, store_uri, "reclaim", "--grace", "0")
    assert done == {"removed_keys": 0, "kept_young_segments": 0, "dry_run": False}
    code, out, _ = run(capsys, store_uri, "reclaim", "--grace", "1d", "--progress")
    assert code == 0 and out.startswith("removed 0 keys; kept 0 ")
    assert "(86400 s)" in out


def test_verify_reports_damage_with_exit_code_6(capsys, tmp_path):
    path = tmp_path / "store"
    store = sheaf.open("lmdb://" + str(path), output_format="numpy")
    lib = store.create_library("L", compression="none")
    payload = np.arange(10_000, dtype="int64") * 7919
    lib.write("s", {"x": payload})
    store.close()
    data = (path / "data.mdb").read_bytes()
    at = data.find(payload[5000:5004].tobytes())
    assert at > 0
    damaged = bytearray(data)
    damaged[at] ^= 0x01
    (path / "data.mdb").write_bytes(bytes(damaged))
    code, out, err = run(capsys, "lmdb://" + str(path), "verify")
    assert code == cli.EXIT_STORAGE == 6
    assert ": 1 problem, 0 leftovers" in out and "checksum mismatch" in out
    assert err == "sheaf: error: verify found 1 damaged or missing stored value\n"
    code, out, err = run(capsys, str(path), "verify", "--json")
    assert code == 6 and json.loads(out)["ok"] is False
    # reading the damaged segment: a CorruptDataError, exit code 6 too
    code, out, err = run(capsys, str(path), "tail", "L", "s", "-n", "1")
    assert code == 6 and err.startswith("sheaf: error: ") and "SHEAF_ERR_CORRUPT" in err
    assert "Traceback" not in err


# -- errors and exit codes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["head", "prices", "nope"], 3, "SHEAF_ERR_NO_SUCH_SYMBOL"),
        (["describe", "prices", "nope"], 3, "SHEAF_ERR_NO_SUCH_SYMBOL"),
        (["versions", "prices", "nope"], 3, "no symbol 'nope' in library 'prices'"),
        (["sizes", "prices", "nope"], 3, "no symbol 'nope'"),
        (["symbols", "nolib"], 3, "SHEAF_ERR_NO_SUCH_LIBRARY"),
        (["head", "nolib", "eurusd"], 3, "SHEAF_ERR_NO_SUCH_LIBRARY"),
        (["head", "prices", "eurusd", "--as-of", "7"], 3, "SHEAF_ERR_NO_SUCH_VERSION"),
        (["head", "prices", "eurusd", "--as-of", "nosnap"], 3, "SHEAF_ERR_NO_SUCH_SNAPSHOT"),
        (["symbols", "prices", "--snapshot", "nosnap"], 3, "SHEAF_ERR_NO_SUCH_SNAPSHOT"),
        (["spaces", "nospace"], 3, "no key space 'nospace'"),
        (["collections", "nocoll"], 3, "SHEAF_ERR_NO_SUCH_COLLECTION"),
        (["head", "prices", "eurusd", "--columns", "bid,zzz"], 4, "zzz"),
        (["symbols", "prices", "--regex", "(a"], 4, "SHEAF_ERR_INVALID_ARGUMENT"),
        (["sql", "SELEC 1"], 4, "sheaf: error: "),
        (["sql", "SELECT * FROM prices.nope"], 4, "nope"),
        (["sql", "DROP TABLE prices.eurusd"], 1, "SHEAF_ERR_UNSUPPORTED"),
    ],
)
def test_errors_have_their_exit_code_and_no_traceback(capsys, store_uri, argv, code, needle):
    got, out, err = run(capsys, store_uri, *argv)
    assert got == code, err
    assert out == ""
    assert err.startswith("sheaf: error: ") and needle in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["{uri}"],
        ["{uri}", "nocommand"],
        ["{uri}", "head", "prices"],
        ["{uri}", "head", "prices", "eurusd", "-n", "x"],
        ["{uri}", "head", "prices", "eurusd", "--as-of", "2024-13-45"],
        ["{uri}", "reclaim", "--grace", "-1"],
        ["{uri}", "reclaim", "--grace", "soon"],
        ["{uri}", "sql", "SELECT $1", "--param", "int:x"],
        ["{uri}", "spaces", "-n", "-1"],
        ["{uri}", "libraries", "--bogus"],
    ],
)
def test_usage_errors_exit_2(capsys, store_uri, argv):
    code, out, err = run(capsys, *[a.format(uri=store_uri) for a in argv])
    assert code == cli.EXIT_USAGE == 2
    assert out == ""
    assert "sheaf: error: " in err and err.startswith("usage: sheaf")


def test_a_missing_store_directory_is_not_created(capsys, tmp_path):
    missing = tmp_path / "no-store"
    code, _out, err = run(capsys, "lmdb://" + str(missing), "libraries")
    assert code == 3 and err == f"sheaf: error: no store at {missing} (no such directory)\n"
    code, _, _ = run(capsys, str(missing), "verify")
    assert code == 3
    assert not missing.exists()


def test_a_bad_uri_is_an_invalid_argument(capsys):
    code, _out, err = run(capsys, "ftp://host/x", "libraries")
    assert code == 4 and "SHEAF_ERR_INVALID_URI" in err


def test_export_and_import_without_pyarrow_exit_7(capsys, store_uri, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` raises ImportError
    code, _out, err = run(capsys, store_uri, "export", "prices", "eurusd", tmp_path / "x.parquet")
    assert code == cli.EXIT_MISSING_DEPENDENCY == 7
    assert err.startswith("sheaf: error: export needs pyarrow, which is not installed")
    assert not (tmp_path / "x.parquet").exists()
    code, _out, err = run(capsys, store_uri, "import", "prices", "new", tmp_path / "x.csv")
    assert code == 7 and "import needs pyarrow" in err and "Traceback" not in err
    # nothing was written
    assert run_json(capsys, store_uri, "symbols", "prices") == ["eurusd", "flat"]


def test_export_with_an_unknown_extension_is_a_usage_error(capsys, store_uri, tmp_path):
    code, _out, err = run(capsys, store_uri, "export", "prices", "eurusd", tmp_path / "x.xlsx")
    assert code == 2 and "cannot tell the format" in err and "--format" in err


def test_exit_codes_are_distinct_per_error_class():
    cases = {
        sheaf.GenericError("x"): 1,
        sheaf.UnsupportedError("x"): 1,
        sheaf.ClosedError("x"): 1,
        sheaf.InternalError("x"): 1,
        sheaf.NoSuchSymbolError("x"): 3,
        sheaf.NoSuchVersionError("x"): 3,
        sheaf.NoSuchSnapshotError("x"): 3,
        sheaf.NoSuchLibraryError("x"): 3,
        sheaf.NoSuchKeyError("x"): 3,
        sheaf.NoSuchCollectionError("x"): 3,
        sheaf.SchemaError("x"): 4,
        sheaf.UnsortedIndexError("x"): 4,
        sheaf.InvalidArgumentError("x"): 4,
        sheaf.InvalidURIError("x"): 4,
        sheaf.ConflictError("x"): 5,
        sheaf.LibraryExistsError("x"): 5,
        sheaf.StorageError("x"): 6,
        sheaf.CorruptDataError("x"): 6,
        sheaf.StorageFullError("x"): 6,
        cli.MissingDependencyError("x"): 7,
    }
    for exc, code in cases.items():
        assert cli.exit_code_for(exc) == code, exc
    assert len({cli.EXIT_ERROR, cli.EXIT_USAGE, cli.EXIT_NOT_FOUND, cli.EXIT_INVALID}) == 4
    assert len({cli.EXIT_CONFLICT, cli.EXIT_STORAGE, cli.EXIT_MISSING_DEPENDENCY}) == 3


# -- argument values -------------------------------------------------------------------------------


def test_parameter_and_as_of_parsing():
    import datetime as dt

    assert cli.parse_param("12") == 12 and cli.parse_param("-1.5") == -1.5
    assert cli.parse_param("true") is True and cli.parse_param("null") is None
    assert cli.parse_param("abc") == "abc" and cli.parse_param("str:12") == "12"
    assert cli.parse_param("float:2") == 2.0 and cli.parse_param("bool:0") is False
    assert cli.parse_param("2024-01-02") == dt.date(2024, 1, 2)
    assert cli.parse_param("2024-01-02T03:04:05") == dt.datetime(2024, 1, 2, 3, 4, 5)
    assert cli.parse_param("null:") is None
    assert cli.parse_as_of("3") == 3 and cli.parse_as_of("-2") == -2
    assert cli.parse_as_of("snap-1") == "snap-1"
    assert cli.parse_as_of("2024-01-02T00:00:00Z") == dt.datetime(
        2024, 1, 2, tzinfo=dt.timezone.utc
    )
    assert cli.parse_columns("a, b,") == ["a", "b"] and cli.parse_columns("") == []
    assert cli.parse_duration("90") == 90.0 and cli.parse_duration("1.5h") == 5400.0


def test_progress_flag_and_its_hook(capsys, store_uri):
    parser = cli.build_parser()
    assert parser.parse_args([store_uri, "verify", "--progress"]).progress is True
    assert parser.parse_args([store_uri, "verify", "--no-progress"]).progress is False
    args = parser.parse_args([store_uri, "export", "l", "s", "f.csv"])
    assert args.progress is None  # main() makes it sys.stderr.isatty()
    assert cli._progress_kwargs(args) == {}


def test_help_lists_commands_and_exit_codes(capsys):
    code, out, err = run(capsys, "--help")
    assert code == 0 and err == ""
    for command in ("libraries", "symbols", "head", "export", "import", "reclaim", "sql"):
        assert command in out
    assert "exit codes:" in out and "7    missing optional dependency" in out
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"sheaf {sheaf.library_version()}"


# -- as a process ----------------------------------------------------------------------------------


def test_python_dash_m_sheaf(store_uri):
    env = dict(os.environ)
    proc = subprocess.run(
        [sys.executable, "-m", "sheaf", store_uri, "head", "prices", "eurusd", "-n", "2", "--json"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [r["bid"] for r in doc["rows"]] == [1.10, 1.11]
    proc = subprocess.run(
        [sys.executable, "-m", "sheaf", store_uri, "head", "prices", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert proc.stderr.startswith("sheaf: error: ") and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "sheaf", store_uri, "head"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("usage: sheaf")
