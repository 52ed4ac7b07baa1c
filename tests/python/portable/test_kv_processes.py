"""Key spaces across processes and languages, on one LMDB store: two Python processes
(multiprocessing "spawn", each opening the store itself) and two C programs
(tests/c/tools/sheaf_kv_racer.c and sheaf_kv_consumer.c, built by build.py into the directory
it exports as SHEAF_C_TOOLS_DIR).

- NEW_ONLY race: four racers put the same 10 000 keys; each key has exactly one winner, every
  other racer saw "exists" for it, and the stored value is the winner's id.
- Queue: a fifth process fills a queue of 10 000 items while four consumers pop it with
  CONSUME; every item is popped exactly once.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import _kv_workers as workers
import pytest

import sheaf

N = 10_000
TIMEOUT = 120


@pytest.fixture
def tools():
    directory = os.environ.get("SHEAF_C_TOOLS_DIR")
    if not directory:
        pytest.skip(
            "SHEAF_C_TOOLS_DIR is not set: these tests race Python against the C programs "
            "sheaf_kv_racer and sheaf_kv_consumer (build.py builds them and sets it)"
        )
    found = {}
    for name in ("sheaf_kv_racer", "sheaf_kv_consumer"):
        exe = Path(directory) / name
        assert exe.is_file() and os.access(exe, os.X_OK), (
            f"SHEAF_C_TOOLS_DIR={directory} has no executable {name} (build.py's C step "
            "compiles tests/c/tools/*.c there)"
        )
        found[name] = str(exe)
    return found


@pytest.fixture
def uri(tmp_path):
    # LMDB on tmpfs when there is one: a commit there costs microseconds, not an fsync.
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    directory = tempfile.mkdtemp(prefix="sheaf-kv-race-", dir=base or str(tmp_path))
    yield "lmdb://" + directory + "/store?map_size=1GB"
    shutil.rmtree(directory, ignore_errors=True)


def _start(ctx, target, *args):
    p = ctx.Process(target=target, args=args)
    p.start()
    return p


def _finish(procs, c_procs):
    problems = []
    for p in procs:
        p.join(TIMEOUT)
        if p.is_alive():
            p.kill()
            problems.append(f"python process {p.name} timed out")
        elif p.exitcode != 0:
            problems.append(f"python process {p.name} exited with {p.exitcode}")
    for cmd, proc in c_procs:
        try:
            out, _ = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            problems.append(f"timed out: {cmd}")
        if proc.returncode != 0:
            problems.append(f"exit status {proc.returncode}: {cmd}\n{out.decode(errors='replace')}")
    assert not problems, "\n".join(problems)


def _spawn_c(cmd):
    return (" ".join(cmd), subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))


def test_new_only_race_has_one_winner_per_key(tools, uri, tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready = [ctx.Event(), ctx.Event()]
    go = ctx.Event()
    outs = {rid: tmp_path / f"racer{rid}.txt" for rid in (1, 2, 3, 4)}
    # Racer 1: a put per key (a loss is KeyExistsError); racer 2: put_multi in chunks of 37.
    procs = [
        _start(ctx, workers.racer, uri, "race", N, 1, str(outs[1]), ready[0], go, 1),
        _start(ctx, workers.racer, uri, "race", N, 2, str(outs[2]), ready[1], go, 37),
    ]
    c_procs = []
    try:
        for event in ready:
            assert event.wait(60), "a Python racer did not start"
        go.set()
        c_procs = [
            _spawn_c([tools["sheaf_kv_racer"], uri, "race", str(N), str(rid), str(outs[rid]), c])
            for rid, c in ((3, "50"), (4, "1"))
        ]
    finally:
        go.set()
    _finish(procs, c_procs)

    results = {}
    for rid, path in outs.items():
        lines = path.read_text().split()
        pairs = list(zip(lines[::2], lines[1::2]))
        assert len(pairs) == N, f"racer {rid} reported {len(pairs)} keys"
        assert {s for _, s in pairs} <= {"won", "lost"}
        results[rid] = dict(pairs)
    winners = {}
    for i in range(N):
        key = workers.key_name(i)
        won = [rid for rid in results if results[rid][key] == "won"]
        assert len(won) == 1, f"{key}: winners {won}"
        winners[key] = won[0]
    with sheaf.open(uri) as store:
        kv = store.kv("race")
        assert kv.count() == N
        keys = sorted(winners)
        stored = kv.get_multi(keys)
        assert [int(v) for v in stored] == [winners[k] for k in keys]


def test_consume_pops_every_item_exactly_once(tools, uri, tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready = [ctx.Event(), ctx.Event()]
    go = ctx.Event()
    outs = [tmp_path / f"consumer{i}.txt" for i in range(4)]
    with sheaf.open(uri) as store:  # create the spaces before anyone looks at them
        store.kv("queue")
        store.kv("control")
    procs = [
        _start(ctx, workers.consumer, uri, "queue", "control", str(outs[0]), 5, ready[0], go),
        _start(ctx, workers.consumer, uri, "queue", "control", str(outs[1]), 11, ready[1], go),
    ]
    c_procs = []
    try:
        for event in ready:
            assert event.wait(60), "a Python consumer did not start"
        c_procs = [
            _spawn_c([tools["sheaf_kv_consumer"], uri, "queue", str(out), "control", "done"])
            for out in outs[2:]
        ]
        procs.append(_start(ctx, workers.producer, uri, "queue", "control", N, 50, go))
    finally:
        go.set()
    _finish(procs, c_procs)

    popped = [out.read_text().split() for out in outs]
    everything = Counter(v for values in popped for v in values)
    expected = {f"item-{i:06d}" for i in range(N)}
    duplicates = {v: n for v, n in everything.items() if n > 1}
    assert not duplicates, f"popped more than once: {sorted(duplicates)[:10]}"
    assert set(everything) == expected, (
        f"missing {sorted(expected - set(everything))[:10]}, "
        f"unexpected {sorted(set(everything) - expected)[:10]}"
    )
    with sheaf.open(uri) as store:
        assert store.kv("queue").count() == 0
