"""No lost updates: several processes (Python, started with "spawn", and C) commit to one symbol
of one LMDB store at the same time; every commit lands, in order, with contiguous version
numbers, and every intermediate version reads back consistently. The appenders and the reads
racing a pruning writer run on an s3:// store too (the local S3 server, fewer commits)."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import _procs
import numpy as np
import pytest

import sheaf

N_BATCHES = 250
ROWS = 2  # rows per appended batch
SAMPLED_VERSIONS = 25


def _spawn():
    return multiprocessing.get_context("spawn")


def _appender_tool() -> Path:
    where = os.environ.get("SHEAF_C_TOOLS_DIR")
    if not where:
        pytest.skip(
            "SHEAF_C_TOOLS_DIR is not set: it names the directory of the C process tools "
            "(tests/c/tools, built by build.py / tests/c/run_c_tests.py), whose sheaf_appender "
            "this test runs next to the Python writers"
        )
    tool = Path(where) / "sheaf_appender"
    if not os.access(str(tool), os.X_OK):
        pytest.fail(f"SHEAF_C_TOOLS_DIR={where} has no executable sheaf_appender")
    return tool


def _start(procs, go: Path) -> None:
    for p in procs:
        p.start()
    go.touch()


def _join(procs, timeout: float = 120) -> None:
    for p in procs:
        p.join(timeout)
    for p in procs:
        if p.is_alive():  # pragma: no cover - a hung writer
            p.terminate()
        assert p.exitcode == 0, f"{p.name} exited with {p.exitcode}"


def test_two_python_and_two_c_appenders_lose_nothing(tmp_path):
    two_python_and_two_c_appenders(tmp_path, "lmdb://" + str(tmp_path / "store"))


def test_two_python_and_two_c_appenders_on_s3_lose_nothing(tmp_path, s3_uri):
    # Fewer batches: every commit on the local S3 server is a few HTTP round trips.
    two_python_and_two_c_appenders(tmp_path, s3_uri, n_batches=12)


def two_python_and_two_c_appenders(tmp_path, uri, n_batches=N_BATCHES):
    tool = _appender_tool()
    with sheaf.open(uri) as store:
        store.create_library("lib")
    go = tmp_path / "go"
    ctx = _spawn()
    outs = {w: tmp_path / f"py{w}.json" for w in (0, 1)}
    procs = [
        ctx.Process(
            target=_procs.appender,
            args=(uri, "lib", "s", w, n_batches, ROWS, str(go), str(outs[w])),
            name=f"python appender {w}",
        )
        for w in (0, 1)
    ]
    _start(procs, go)
    c_procs = {
        w: subprocess.Popen(
            [str(tool), uri, "lib", "s", str(w), str(n_batches), str(ROWS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for w in (2, 3)
    }
    committed = {}
    for w, p in c_procs.items():
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, f"C appender {w}: {stderr.decode(errors='replace')}"
        lines = [line.split() for line in stdout.decode().splitlines()]
        assert all(int(a) == w for a, _, _ in lines)
        committed[w] = [[int(seq), int(v)] for _, seq, v in lines]
    _join(procs)
    for w, path in outs.items():
        committed[w] = json.loads(path.read_text())

    total = 4 * n_batches
    with sheaf.open(uri, output_format="numpy") as store:
        lib = store["lib"]
        final = lib.read("s")
        versions = lib.list_versions("s")

    # every batch landed exactly once: the version each writer was told owns that batch
    assert final.version == total - 1
    writer, seq = final.data["writer"], final.data["seq"]
    assert len(writer) == total * ROWS
    blocks = np.stack([writer.reshape(total, ROWS), seq.reshape(total, ROWS)], axis=-1)
    assert (blocks == blocks[:, :1, :]).all(), "a batch was split"
    owner = {}
    for w, pairs in committed.items():
        assert [s for s, _ in pairs] == list(range(n_batches))
        for s, v in pairs:
            owner[v] = (w, s)
    assert sorted(owner) == list(range(total)), "version numbers are not contiguous"
    for v in range(total):
        assert tuple(blocks[v, 0]) == owner[v], f"version {v} does not end with its batch"
    # each writer's batches in its order
    for w in range(4):
        assert (seq[writer == w][::ROWS] == np.arange(n_batches)).all()

    # every intermediate version: the rows of the batches committed up to it
    assert sorted(k.version for k in versions) == list(range(total))
    for key, info in versions.items():
        assert info.rows == (key.version + 1) * ROWS
    with sheaf.open(uri, output_format="numpy") as store:
        lib = store["lib"]
        step = max(1, total // SAMPLED_VERSIONS)
        for v in [*range(0, total, step), total - 2]:
            item = lib.read("s", as_of=v)
            assert item.rows == (v + 1) * ROWS
            assert (item.data["writer"] == writer[: item.rows]).all()
            assert (item.data["seq"] == seq[: item.rows]).all()


def test_concurrent_updates_of_disjoint_ranges_both_land(tmp_path):
    uri = "lmdb://" + str(tmp_path / "store")
    n_days, n_updates = 10, 40
    t0 = np.datetime64("2024-01-01", "ns")
    with sheaf.open(uri) as store:
        lib = store.create_library("lib")
        ts = t0 + np.arange(2 * n_days) * np.timedelta64(1, "D")
        lib.write("s", {"ts": ts, "v": np.zeros(2 * n_days, dtype=np.int64)}, index="ts")
    go = tmp_path / "go"
    ctx = _spawn()
    outs = [tmp_path / "a.json", tmp_path / "b.json"]
    procs = [
        ctx.Process(
            target=_procs.updater,
            args=(uri, "lib", "s", i * n_days, n_days, 1000 * (i + 1), n_updates, str(go), out),
            name=f"updater {i}",
        )
        for i, out in enumerate(map(str, outs))
    ]
    _start(procs, go)
    _join(procs)
    reported = [json.loads(p.read_text()) for p in outs]
    owner = {v: (i, k) for i, pairs in enumerate(reported) for k, v in pairs}
    total = 2 * n_updates
    assert sorted(owner) == list(range(1, total + 1))
    with sheaf.open(uri, output_format="numpy") as store:
        lib = store["lib"]
        assert sorted(k.version for k in lib.list_versions("s")) == list(range(total + 1))
        state = [0, 0]  # the update number each range shows, version by version
        for v in range(1, total + 1):
            values = lib.read("s", as_of=v).data["v"]
            assert len(values) == 2 * n_days
            i, k = owner[v]
            state[i] = k
            for j in (0, 1):
                part = values[j * n_days : (j + 1) * n_days]
                expected = 1000 * (j + 1) + state[j] if state[j] else 0
                assert (part == expected).all(), f"version {v}: range {j} is {part.tolist()}"
        assert state == [n_updates, n_updates]


def test_write_metadata_racing_an_append(tmp_path):
    uri = "lmdb://" + str(tmp_path / "store")
    n = 100
    with sheaf.open(uri) as store:
        lib = store.create_library("lib")
        lib.write("s", {"writer": np.array([9], np.int64), "seq": np.array([-1], np.int64)})
    go = tmp_path / "go"
    ctx = _spawn()
    out_a, out_m = tmp_path / "a.json", tmp_path / "m.json"
    procs = [
        ctx.Process(
            target=_procs.appender,
            args=(uri, "lib", "s", 0, n, 1, str(go), str(out_a)),
            name="appender",
        ),
        ctx.Process(
            target=_procs.metadata_writer,
            args=(uri, "lib", "s", n, str(go), str(out_m)),
            name="metadata writer",
        ),
    ]
    _start(procs, go)
    _join(procs)
    appended = dict(json.loads(out_a.read_text()))  # seq -> version
    meta_written = dict(json.loads(out_m.read_text()))  # i -> version
    total = 2 * n
    assert sorted([*appended.values(), *meta_written.values()]) == list(range(1, total + 1))
    with sheaf.open(uri, output_format="numpy") as store:
        lib = store["lib"]
        final = lib.read("s")
        assert final.version == total
        assert final.data["seq"].tolist() == [-1, *range(n)]
        infos = lib.read_metadata_batch(["s"] * (total + 1), as_ofs=list(range(total + 1)))
    by_version = {v: ("append", s) for s, v in appended.items()}
    by_version.update({v: ("meta", i) for i, v in meta_written.items()})
    rows = 1
    for v in range(1, total + 1):
        kind, k = by_version[v]
        if kind == "append":
            rows += 1
            assert infos[v].metadata is None  # append does not carry metadata over
        else:
            assert infos[v].metadata == {"i": k}  # write_metadata keeps the latest rows
        assert infos[v].rows == rows, f"version {v} ({kind} {k}) has {infos[v].rows} rows"


def test_the_skip_reason_names_the_variable(monkeypatch):
    monkeypatch.delenv("SHEAF_C_TOOLS_DIR", raising=False)
    with pytest.raises(pytest.skip.Exception) as info:
        _appender_tool()
    assert "SHEAF_C_TOOLS_DIR" in str(info.value)


def test_reads_while_another_process_writes_and_prunes_are_whole_or_refused(tmp_path):
    reads_while_another_process_writes_and_prunes(
        tmp_path, "lmdb://" + str(tmp_path / "store"), rows=60_000, rounds=40, per_segment=7_000
    )


def test_reads_on_s3_racing_a_writing_and_pruning_process_are_whole_or_refused(tmp_path, s3_uri):
    # Less work (~4 s): a write here is 9 segment PUTs, the version record and the prune's
    # deletes, each an HTTP round trip to the local server, and a read a listing and 9 GETs.
    # The reads still race the prunes: a run sees every round and several refusals.
    reads_while_another_process_writes_and_prunes(
        tmp_path, s3_uri, rows=6_000, rounds=30, per_segment=700
    )


def reads_while_another_process_writes_and_prunes(tmp_path, uri, rows, rounds, per_segment):
    # Each version holds one value in every row (its round). A read racing the writer returns
    # a whole version — one round, every row, the right values — or, when the writer pruned
    # that version's segments under it, says so; never rows of two versions, never garbage.
    with sheaf.open(uri, output_format="numpy") as store:
        lib = store.create_library(
            "race", library_options=sheaf.LibraryOptions(rows_per_segment=per_segment)
        )
        lib.write("s", {"round": np.zeros(rows, dtype=np.int64), "x": np.arange(rows) * 0.5})
        go = tmp_path / "go"
        writer = _spawn().Process(
            target=_procs.pruning_writer,
            args=(uri, "race", "s", rounds, rows, str(go)),
            name="pruning writer",
        )
        _start([writer], go)
        seen, refused = set(), 0
        expected_x = np.arange(rows) * 0.5
        while writer.is_alive() or not seen:
            try:
                data = lib.read("s").data
            except sheaf.NoSuchVersionError:
                refused += 1
                continue
            values = np.unique(data["round"])
            assert len(values) == 1, f"rows of several versions in one read: {values}"
            assert len(data["x"]) == rows
            np.testing.assert_array_equal(data["x"], expected_x)
            seen.add(int(values[0]))
        _join([writer])
        final = lib.read("s").data
        assert np.all(final["round"] == rounds)
        assert len(lib.list_versions("s")) == 1
        assert seen, "no read completed"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
