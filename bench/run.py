#!/usr/bin/env python3
"""Sheaf's benchmark suite: Sheaf side by side with its peers, in one run, on one machine.

    python3 build.py bench [--quick]        (builds the wheel and the venvs, then runs this)

    <sheaf-venv>/bin/python bench/run.py --arcticdb-python <arcticdb-venv>/bin/python \\
        [--pypy-python <pypy-venv>/bin/python] --wheel dist/sheaf-*.whl \\
        --workdir build/bench [--quick] --report BENCHMARKS.md

This process runs in the Sheaf venv (CPython 3.11 with numpy, pandas, pyarrow, py-lmdb and the
sheaf wheel). It generates the data sets as Arrow IPC files in --workdir, then starts one fresh
worker process per step: tables_worker.py and query_worker.py with the Sheaf venv's or the
ArcticDB venv's python, kv_worker.py and overhead_worker.py with CPython and PyPy. The S3 section
runs the table steps of Sheaf and ArcticDB against a local S3-compatible server
(tests/s3_server.py: moto, started here with the Sheaf venv's python). Each worker
prints one ``RESULT {json}`` line; everything is collected into <workdir>/results.json and
rendered into the report (report.py). Every comparison is a ratio of medians measured in the
same run, because absolute times drift on a shared machine.

Exit status: 0 when every benchmark ran (targets missed or not), 1 when one crashed (its error
is in the report and in results.json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import datagen  # noqa: E402
import report  # noqa: E402

STEP_TIMEOUT = 45 * 60
SECOND = 1_000_000_000

TABLE_ENGINES = ["sheaf", "arcticdb", "parquet", "ipc"]
# The machine's floor for each step (tables_worker.FloorEngine): not for the filter steps.
FLOOR_ENGINES = ["floor_copy", "floor_lz4"]
FLOOR_OPS = ["write", "read_pandas", "read_arrow", "append", "date_range", "two_cols"]
TABLE_OPS = [
    "write",
    "read_pandas",
    "read_arrow",
    "append",
    "date_range",
    "filter_pandas",
    "filter_arrow",
    "two_cols",
]
# Diagnostic (not a target figure): the Sheaf read steps again in a process whose glibc malloc
# keeps freed memory instead of returning it to the kernel, to show how much of a read is page
# faults on fresh memory (see the report).
DIAG_OPS = ["read_pandas", "read_arrow", "date_range", "filter_arrow", "two_cols"]
MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(4 << 30),
    "MALLOC_TOP_PAD_": str(256 << 20),
}
# (engine, compression) measured for the on-disk size.
SIZE_FORMATS = [
    ("sheaf", "lz4"),
    ("sheaf", "zstd"),
    ("arcticdb", "lz4"),
    ("parquet", "snappy"),
    ("parquet", "zstd"),
    ("ipc", "none"),
    ("ipc", "lz4"),
    ("ipc", "zstd"),
]
QUERY_ENGINES = ["arcticdb", "pandas", "sheaf", "sheaf-sql", "duckdb-arrow", "duckdb-parquet"]
QUERIES = ["q1", "q3", "q4", "adv_q2", "filter"]
KV_ENGINES = ["sheaf", "lmdb", "sqlite", "dict"]
# The S3 section: the table steps of Sheaf and ArcticDB on the floats data set, each engine in
# its own bucket of one local S3 server (tests/s3_server.py).
S3_ENGINES = ["sheaf", "arcticdb"]
S3_OPS = ["write", "read_pandas", "read_arrow", "append", "date_range"]
S3_ROWS = 1_000_000
SECTIONS = ["tables", "s3", "query", "kv", "overhead"]


class Plan:
    """Sizes and repetition counts of a full or quick run."""

    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.table_sizes = [1_000_000] if quick else [1_000_000, 10_000_000]
        self.query_sizes = [1_000_000] if quick else [1_000_000, 10_000_000]
        self.kv_keys = 100_000 if quick else 1_000_000
        # Key-value: rounds of one process per engine (interleaved), each with `reps` loads and
        # rounds of single puts, and `fast_reps` (+1 warm-up) rounds of the gets and listings.
        self.kv_rounds = 1 if quick else 3
        self.kv = {
            "n": self.kv_keys,
            "batch": 10_000,
            "reps": 3 if quick else 1,
            "fast_reps": 5 if quick else 2,
            "single_puts": 300 if quick else 1000,
            "single_gets": 20_000 if quick else 100_000,
            "prefixes": 100 if quick else 200,
        }
        self.overhead = {"loops": 100_000 if quick else 500_000, "reps": 5 if quick else 9}

    def table_reps(self, n: int, op: str) -> Dict[str, int]:
        """Rounds, timed repetitions per round and warm-up of a table step.

        A round is one fresh worker process per engine, the engines one after the other; the
        rounds interleave the engines so that a change of load on the machine hits all of them.
        Warm-up 1 = an untimed first run in each process (which is also its memory run);
        0 = the memory run is the first timed one (for steps too slow to repeat).
        """
        big = n >= 10_000_000
        if self.quick:
            if op == "write":
                return {"rounds": 1, "reps": 3, "warmup": 0}
            if op in ("date_range", "append"):
                return {"rounds": 1, "reps": 5, "warmup": 1}
            return {"rounds": 1, "reps": 3, "warmup": 1}
        if op == "write":
            return (
                # Five fresh processes: at 10M rows a write is bound by the kernel's copy into
                # the page cache, whose speed on this kind of machine changes 4x from minute to
                # minute for every engine (bench/ANALYSIS.md); three made the median a coin toss.
                {"rounds": 5, "reps": 1, "warmup": 0}
                if big
                # Durable writes on this kind of machine stall now and then for hundreds of
                # milliseconds (the disk, not the engine): more of them keep the median honest.
                else {"rounds": 5, "reps": 3, "warmup": 1}
            )
        if op in ("date_range", "append", "two_cols"):
            return {"rounds": 3, "reps": 2 if big else 3, "warmup": 1}
        return {"rounds": 3, "reps": 1 if big else 3, "warmup": 1}

    def query_reps(self, n: int) -> int:
        if self.quick:
            return 3
        return 3 if n >= 10_000_000 else 5


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.plan = Plan(args.quick)
        self.workdir = os.path.abspath(args.workdir)
        self.sheaf_python = sys.executable
        self.arctic_python = args.arcticdb_python
        self.pypy_python: Optional[str] = args.pypy_python
        self.results: Dict[str, Any] = {
            "tables": {},
            "sizes": {},
            "query": {},
            "kv": {},
            "overhead": {},
            "s3": {},
            "errors": [],
            "exit_crashes": [],
            "notes": [],
            "meta": {},
        }

    # -- processes --------------------------------------------------------------------------------
    def worker(
        self,
        python: str,
        script: str,
        spec: Dict[str, Any],
        what: str,
        extra_env: Optional[Dict[str, str]] = None,
    ) -> Optional[Dict[str, Any]]:
        """Runs one worker; returns its RESULT, or None after recording the failure."""
        cmd = [python, os.path.join(HERE, script), json.dumps(spec)]
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONWARNINGS="ignore")
        for name in MALLOC_ENV:
            env.pop(name, None)
        env.update(extra_env or {})
        # Write back what earlier steps left unsynced (Parquet and IPC files are not fsynced):
        # otherwise the next engine's durable commit pays for their data too.
        os.sync()
        started = time.time()
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=STEP_TIMEOUT,
                env=env,
                cwd=self.workdir,
                check=False,
            )
        except subprocess.TimeoutExpired:
            self.fail(what, f"timed out after {STEP_TIMEOUT} s")
            return None
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT "):
                result: Dict[str, Any] = json.loads(line[len("RESULT ") :])
                result["wall"] = time.time() - started
                if proc.returncode != 0:
                    # The step finished and reported; the process died afterwards (seen with
                    # ArcticDB: SIGSEGV during interpreter shutdown). Keep the figures, say so.
                    self.results["exit_crashes"].append({"what": what, "status": proc.returncode})
                    print(f"  note: {what}: exit status {proc.returncode} after its result")
                return result
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        self.fail(what, f"exit status {proc.returncode}\n{tail}")
        return None

    def fail(self, what: str, message: str) -> None:
        print(f"  FAILED: {what}: {message}", flush=True)
        self.results["errors"].append({"what": what, "error": message})

    def python_for(self, engine: str) -> str:
        return self.arctic_python if engine == "arcticdb" else self.sheaf_python

    def save(self) -> None:
        with open(os.path.join(self.workdir, "results.json"), "w") as f:
            json.dump(self.results, f, indent=1, sort_keys=True)

    # -- set-up -----------------------------------------------------------------------------------
    def setup(self) -> None:
        os.makedirs(self.workdir, exist_ok=True)
        for sub in ("data", "tables", "sizes", "query", "kv"):
            shutil.rmtree(os.path.join(self.workdir, sub), ignore_errors=True)
        meta = self.results["meta"]
        meta["started"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        meta["quick"] = self.args.quick
        meta["machine"] = machine()
        meta["load_start"] = list(os.getloadavg())
        meta["git"] = git_state()
        meta["argv"] = [rel(a) for a in sys.argv]
        meta["wheel"] = wheel_info(self.args.wheel)
        meta["malloc_env"] = MALLOC_ENV
        meta["plan"] = {
            "table_sizes": self.plan.table_sizes,
            "query_sizes": self.plan.query_sizes,
            "kv": self.plan.kv,
            "kv_rounds": self.plan.kv_rounds,
            "overhead": self.plan.overhead,
            "table_reps": {
                str(n): {op: self.plan.table_reps(n, op) for op in TABLE_OPS}
                for n in self.plan.table_sizes
            },
            "query_reps": {str(n): self.plan.query_reps(n) for n in self.plan.query_sizes},
            "s3_rows": S3_ROWS,
            "s3_reps": {op: self.plan.table_reps(S3_ROWS, op) for op in S3_OPS},
        }
        meta["versions"] = {"sheaf_venv": self.venv_versions(self.sheaf_python)}
        meta["versions"]["arcticdb_venv"] = self.venv_versions(self.arctic_python)
        if self.pypy_python:
            self.install_into_pypy()
            meta["versions"]["pypy_venv"] = self.venv_versions(self.pypy_python)

    def venv_versions(self, python: str) -> Dict[str, str]:
        code = (
            "import json, sys, importlib\n"
            "out = {'python': sys.version.split()[0], 'implementation': sys.implementation.name}\n"
            "for m in ('sheaf', 'arcticdb', 'pandas', 'pyarrow', 'numpy', 'lmdb', 'sqlite3',\n"
            "          'duckdb'):\n"
            "    try:\n"
            "        mod = importlib.import_module(m)\n"
            "        v = getattr(mod, 'sqlite_version', None) or getattr(mod, '__version__', '?')\n"
            "        out[m] = str(v)\n"
            "    except Exception as e:\n"
            "        out[m] = 'not importable: ' + type(e).__name__\n"
            "print(json.dumps(out))\n"
        )
        proc = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, timeout=300, check=False
        )
        if proc.returncode != 0:
            return {"error": proc.stderr.strip()[-500:]}
        versions: Dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
        return versions

    def install_into_pypy(self) -> None:
        assert self.pypy_python
        print(f"installing {rel(self.args.wheel)} into the PyPy venv", flush=True)
        proc = subprocess.run(
            [
                self.pypy_python,
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--force-reinstall",
                "--no-deps",
                self.args.wheel,
            ],
            check=False,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            self.fail("installing the wheel into the PyPy venv", proc.stderr.strip()[-1000:])
            self.pypy_python = None

    # -- tables -----------------------------------------------------------------------------------
    def tables(self) -> None:
        for n in self.plan.table_sizes:
            label = human(n)
            data = datagen.ensure(self.workdir, "floats", n)
            append = datagen.ensure(self.workdir, "floats_append", n)
            start = datagen.START_NS + int(n * 0.4) * SECOND
            date_range = [start, start + (datagen.APPEND_ROWS - 1) * SECOND]
            engines = TABLE_ENGINES + FLOOR_ENGINES
            stores = {e: os.path.join(self.workdir, "tables", f"{e}-{n}") for e in engines}
            print(f"\n== tables, {label} rows x 10 float64", flush=True)
            for engine in engines:
                spec: Dict[str, Any] = {
                    "engine": engine,
                    "op": "prepare",
                    "store": stores[engine],
                    "data": data,
                }
                self.worker(
                    self.python_for(engine), "tables_worker.py", spec, f"prepare {engine} {label}"
                )
            out: Dict[str, Dict[str, Any]] = self.results["tables"].setdefault(str(n), {})
            for op in TABLE_OPS:
                plan = self.plan.table_reps(n, op)
                variants = list(TABLE_ENGINES)
                if op in FLOOR_OPS:
                    variants += FLOOR_ENGINES
                if op in DIAG_OPS:
                    variants.insert(1, "sheaf_malloc")
                runs: Dict[str, List[Dict[str, Any]]] = {v: [] for v in variants}
                for rnd in range(plan["rounds"]):
                    # Each round starts with another engine, so none always runs right after
                    # the same neighbour.
                    shift = rnd % len(variants)
                    for variant in variants[shift:] + variants[:shift]:
                        engine = "sheaf" if variant == "sheaf_malloc" else variant
                        store = stores[engine]
                        if op == "write":
                            store = os.path.join(self.workdir, "tables", f"{engine}-{n}-write")
                        spec = {
                            "engine": engine,
                            "op": op,
                            "store": store,
                            "data": data,
                            "append_data": append,
                            "append_step_ns": SECOND,
                            # the appends of later rounds continue after the earlier ones
                            "append_reset": rnd == 0,
                            "append_first": rnd * (plan["reps"] + plan["warmup"]),
                            "date_range": date_range,
                            "reps": plan["reps"],
                            "warmup": plan["warmup"],
                        }
                        what = f"{op} {variant} {label}"
                        env = MALLOC_ENV if variant == "sheaf_malloc" else None
                        res = self.worker(
                            self.python_for(engine), "tables_worker.py", spec, what, env
                        )
                        if res is not None:
                            runs[variant].append(res)
                            print_round(what, res, rnd, plan["rounds"])
                for variant, got in runs.items():
                    if got:
                        out.setdefault(op, {})[variant] = merge_rounds(got)
                self.save()
            for engine in engines:
                shutil.rmtree(stores[engine], ignore_errors=True)
            self.sizes(n)

    def sizes(self, n: int) -> None:
        label = human(n)
        for kind in ("floats", "prices"):
            data = datagen.ensure(self.workdir, kind, n)
            print(f"== on-disk size, {kind}, {label} rows", flush=True)
            out = self.results["sizes"].setdefault(kind, {}).setdefault(str(n), {})
            for engine, compression in SIZE_FORMATS:
                spec = {
                    "engine": engine,
                    "op": "size",
                    "compression": compression,
                    "store": os.path.join(self.workdir, "sizes", f"{engine}-{compression}"),
                    "data": data,
                }
                what = f"size {kind} {engine}/{compression} {label}"
                res = self.worker(self.python_for(engine), "tables_worker.py", spec, what)
                if res is not None:
                    out[f"{engine}/{compression}"] = res
                    print(f"  {what:<36} {res['size']['allocated'] / 1e6:9.1f} MB", flush=True)
            self.save()
        for path in os.listdir(os.path.join(self.workdir, "data")):
            if path.startswith(f"prices-{n}."):
                os.unlink(os.path.join(self.workdir, "data", path))

    # -- S3 ---------------------------------------------------------------------------------------
    def s3(self) -> None:
        """The table steps of Sheaf and ArcticDB against one local S3-compatible server.

        The server (tests/s3_server.py: moto, in memory, one request at a time) runs with this
        venv's python on a free port of 127.0.0.1 for the whole section and is stopped at its
        end, also on a failure or an interrupt.
        """
        print(f"\n== S3 (local server), {human(S3_ROWS)} rows x 10 float64", flush=True)
        if not self.importable(self.sheaf_python, "moto.server"):
            self.fail(
                "S3 section",
                "moto is not importable in the Sheaf venv (moto[server] comes from "
                "tests/python/requirements-full.txt)",
            )
            return
        sys.path.insert(0, os.path.join(ROOT, "tests"))
        import s3_server  # type: ignore[import-not-found]

        try:
            with s3_server.s3_server(self.sheaf_python) as endpoint:
                print(f"  S3 server (moto, requests serialised) at {endpoint}", flush=True)
                try:
                    self.s3_steps(endpoint, s3_server.create_bucket, s3_server.CREDENTIALS)
                finally:
                    print(f"  stopping the S3 server at {endpoint}", flush=True)
        except Exception as e:  # the server's start, or a request of this process to it
            self.fail("S3 section", f"{type(e).__name__}: {e}")
        self.save()

    def s3_steps(
        self, endpoint: str, create_bucket: Callable[[str, str], None], env: Dict[str, str]
    ) -> None:
        """Each engine has its own bucket: prefix ``main`` holds the symbol the reads and
        appends use; every write step writes into a fresh prefix, emptied after the step so
        that the server's memory does not grow with the repetitions."""
        n = S3_ROWS
        label = human(n)
        data = datagen.ensure(self.workdir, "floats", n)
        append = datagen.ensure(self.workdir, "floats_append", n)
        start = datagen.START_NS + int(n * 0.4) * SECOND
        date_range = [start, start + (datagen.APPEND_ROWS - 1) * SECOND]
        out: Dict[str, Any] = self.results["s3"]
        out["rows"] = n
        steps: Dict[str, Dict[str, Any]] = out.setdefault("steps", {})
        client = s3_client(endpoint)
        buckets = {e: f"bench-{e}" for e in S3_ENGINES}
        for engine in S3_ENGINES:
            create_bucket(endpoint, buckets[engine])
            spec: Dict[str, Any] = {
                "engine": engine,
                "op": "prepare",
                "store": "",
                "store_uri": s3_uri(engine, endpoint, buckets[engine], "main"),
                "data": data,
            }
            what = f"prepare {engine} S3 {label}"
            res = self.worker(self.python_for(engine), "tables_worker.py", spec, what, env)
            if res is not None:
                count, size = prefix_usage(client, buckets[engine], "main")
                out.setdefault("stored", {})[engine] = {"objects": count, "bytes": size}
                print(f"  {what:<28} {count} objects, {size / 1e6:.1f} MB", flush=True)
        for op in S3_OPS:
            plan = self.plan.table_reps(n, op)
            runs: Dict[str, List[Dict[str, Any]]] = {e: [] for e in S3_ENGINES}
            for rnd in range(plan["rounds"]):
                shift = rnd % len(S3_ENGINES)
                for engine in S3_ENGINES[shift:] + S3_ENGINES[:shift]:
                    prefix = f"write-{rnd}" if op == "write" else "main"
                    spec = {
                        "engine": engine,
                        "op": op,
                        "store": "",
                        "store_uri": s3_uri(engine, endpoint, buckets[engine], prefix),
                        "data": data,
                        "append_data": append,
                        "append_step_ns": SECOND,
                        "append_reset": rnd == 0,
                        "append_first": rnd * (plan["reps"] + plan["warmup"]),
                        "date_range": date_range,
                        "reps": plan["reps"],
                        "warmup": plan["warmup"],
                    }
                    what = f"{op} {engine} S3 {label}"
                    res = self.worker(self.python_for(engine), "tables_worker.py", spec, what, env)
                    if op == "write":
                        empty_prefix(client, buckets[engine], prefix)
                    if res is not None:
                        runs[engine].append(res)
                        print_round(what, res, rnd, plan["rounds"])
            for engine, got in runs.items():
                if got:
                    steps.setdefault(op, {})[engine] = merge_rounds(got)
            self.save()

    # -- queries ----------------------------------------------------------------------------------
    def query(self) -> None:
        for n in self.plan.query_sizes:
            label = human(n)
            data = datagen.ensure(self.workdir, "h2o", n)
            print(f"\n== query (H2O columns), {label} rows", flush=True)
            sheaf_store = os.path.join(self.workdir, "query", f"sheaf-{n}")
            stores = {
                "arcticdb": os.path.join(self.workdir, "query", f"arcticdb-{n}"),
                "sheaf": sheaf_store,
                "sheaf-sql": sheaf_store,
                "duckdb-parquet": os.path.join(self.workdir, "query", f"parquet-{n}"),
                "pandas": "",
                "duckdb-arrow": "",
            }
            for engine in ("arcticdb", "sheaf", "duckdb-parquet"):
                spec: Dict[str, Any] = {
                    "engine": engine,
                    "op": "prepare",
                    "store": stores[engine],
                    "data": data,
                }
                self.worker(
                    self.python_for(engine),
                    "query_worker.py",
                    spec,
                    f"prepare query {engine} {label}",
                )
            out = self.results["query"].setdefault(str(n), {})
            for q in QUERIES:
                for engine in QUERY_ENGINES:
                    spec = {
                        "engine": engine,
                        "op": "query",
                        "query": q,
                        "store": stores[engine],
                        "data": data,
                        "reps": self.plan.query_reps(n),
                        "warmup": 1,
                    }
                    what = f"query {q} {engine} {label}"
                    res = self.worker(self.python_for(engine), "query_worker.py", spec, what)
                    if res is not None:
                        out.setdefault(q, {})[engine] = res
                        print(f"  {what:<36} {fmt_median(res['times'])}", flush=True)
                self.save()
            for path in set(stores.values()):
                if path:
                    shutil.rmtree(path, ignore_errors=True)

    # -- key-value and call overhead --------------------------------------------------------------
    def interpreters(self) -> List[Any]:
        found = [("cpython", self.sheaf_python)]
        if self.pypy_python:
            found.append(("pypy", self.pypy_python))
        return found

    def kv(self) -> None:
        for impl, python in self.interpreters():
            print(f"\n== key-value on {impl}, {human(self.plan.kv_keys)} keys", flush=True)
            out = self.results["kv"].setdefault(impl, {})
            engines = list(KV_ENGINES)
            if not self.importable(python, "lmdb"):
                note = f"py-lmdb is not importable on {impl}: its key-value column is empty"
                self.results["notes"].append(note)
                print("  " + note, flush=True)
                engines.remove("lmdb")
            runs: Dict[str, List[Dict[str, Any]]] = {e: [] for e in engines}
            for rnd in range(self.plan.kv_rounds):
                for engine in engines:
                    spec = dict(
                        self.plan.kv, engine=engine, dir=os.path.join(self.workdir, "kv", impl)
                    )
                    what = f"kv {engine} on {impl}"
                    res = self.worker(python, "kv_worker.py", spec, what)
                    if res is not None:
                        runs[engine].append(res)
                        t = res["times"]
                        print(
                            f"  {what:<22} get_batch {fmt_median(t['get_batch'], 'ns')}/key"
                            f"  put_batch {fmt_median(t['put_batch'], 'ns')}/key"
                            f"  (round {rnd + 1}/{self.plan.kv_rounds})",
                            flush=True,
                        )
                    shutil.rmtree(os.path.join(self.workdir, "kv", impl), ignore_errors=True)
            for engine, got in runs.items():
                if got:
                    merged = dict(got[0])
                    merged["times"] = {
                        op: [t for r in got for t in r["times"][op]] for op in got[0]["times"]
                    }
                    merged["rounds"] = len(got)
                    out[engine] = merged
            self.save()

    def overhead(self) -> None:
        print("\n== call overhead", flush=True)
        for impl, python in self.interpreters():
            res = self.worker(
                python, "overhead_worker.py", self.plan.overhead, f"overhead on {impl}"
            )
            if res is not None:
                self.results["overhead"][impl] = res
                print(
                    "  "
                    + impl
                    + ": "
                    + ", ".join(f"{k} {v:.1f} ns" for k, v in res["median_ns"].items()),
                    flush=True,
                )
        self.save()

    def importable(self, python: str, module: str) -> bool:
        proc = subprocess.run(
            [python, "-c", f"import {module}"], capture_output=True, timeout=120, check=False
        )
        return proc.returncode == 0

    # -- all --------------------------------------------------------------------------------------
    def run(self, sections: List[str]) -> int:
        started = time.time()
        self.setup()
        self.save()
        for section in sections:
            getattr(self, section)()
        meta = self.results["meta"]
        meta["finished"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        meta["minutes"] = (time.time() - started) / 60
        meta["load_end"] = list(os.getloadavg())
        meta["sections"] = sections
        self.save()
        for sub in ("data", "tables", "sizes", "query", "kv"):
            shutil.rmtree(os.path.join(self.workdir, sub), ignore_errors=True)
        return 1 if self.results["errors"] else 0


# -- helpers --------------------------------------------------------------------------------------
def print_round(what: str, res: Dict[str, Any], rnd: int, rounds: int) -> None:
    """One round of a table step, as the table and S3 sections print it."""
    print(
        f"  {what:<28} {fmt_median(res['times'])}"
        f"  peak +{mb(res.get('peak_delta'))}"
        f"  (round {rnd + 1}/{rounds})",
        flush=True,
    )


def s3_uri(engine: str, endpoint: str, bucket: str, prefix: str) -> str:
    """The URI of a store under ``prefix`` of ``bucket`` on the local server, in the engine's
    syntax: Sheaf takes the endpoint and plain http as options and the credentials from the
    AWS_* variables; ArcticDB takes ``s3://HOST:BUCKET`` (s3:// is plain http, s3s:// https),
    the port and the credentials as options."""
    host, port = endpoint.split("://", 1)[1].rsplit(":", 1)
    if engine == "sheaf":
        return f"s3://{bucket}/{prefix}?endpoint={endpoint}&allow_http=true"
    if engine == "arcticdb":
        return f"s3://{host}:{bucket}?port={port}&access=test&secret=test&path_prefix={prefix}"
    raise ValueError(f"no S3 URI for {engine!r}")


def s3_client(endpoint: str) -> Any:
    """A boto3 client of the local server (boto3 comes with moto into the Sheaf venv)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )


def prefix_objects(client: Any, bucket: str, prefix: str) -> List[Dict[str, Any]]:
    found: List[Dict[str, Any]] = []
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    for page in pages:
        found.extend(page.get("Contents", []))
    return found


def prefix_usage(client: Any, bucket: str, prefix: str) -> Tuple[int, int]:
    """(objects, bytes) stored under ``prefix/``."""
    found = prefix_objects(client, bucket, prefix)
    return len(found), sum(int(o["Size"]) for o in found)


def empty_prefix(client: Any, bucket: str, prefix: str) -> None:
    keys = [{"Key": o["Key"]} for o in prefix_objects(client, bucket, prefix)]
    for i in range(0, len(keys), 1000):
        client.delete_objects(Bucket=bucket, Delete={"Objects": keys[i : i + 1000], "Quiet": True})


def merge_rounds(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """One result from the rounds of a step: all timed repetitions, the median peak memory."""
    import statistics

    merged = dict(runs[0])
    merged["times"] = [t for r in runs for t in r["times"]]
    peaks = [r["peak_delta"] for r in runs if r.get("peak_delta") is not None]
    if peaks:
        merged["peak_delta"] = statistics.median(peaks)
    mapped = [r["file_delta"] for r in runs if r.get("file_delta") is not None]
    if mapped:
        merged["file_delta"] = statistics.median(mapped)
    merged["rounds"] = [
        {k: r.get(k) for k in ("times", "peak_delta", "file_delta", "first")} for r in runs
    ]
    return merged


def human(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def mb(value: Optional[int]) -> str:
    return "?" if value is None else f"{value / 1e6:.0f} MB"


def fmt_median(times: List[float], unit: str = "ms") -> str:
    import statistics

    scale = {"ms": 1e3, "ns": 1e9, "us": 1e6}[unit]
    return f"{statistics.median(times) * scale:9.3f} {unit}"


def rel(path: str) -> str:
    try:
        r = os.path.relpath(path, ROOT)
    except ValueError:
        return path
    return path if r.startswith("..") else r


def machine() -> Dict[str, Any]:
    info: Dict[str, Any] = {
        "nproc": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "kernel": platform.release(),
        "os": platform.platform(terse=True),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    info["mem_gib"] = int(line.split()[1]) / 1024 / 1024
                    break
    except OSError:
        pass
    return info


def wheel_info(path: str) -> Dict[str, Any]:
    """The wheel's name and the SHA-256 of the libsheaf.so inside it (which build was measured)."""
    import hashlib
    import zipfile

    info: Dict[str, Any] = {"name": os.path.basename(path)}
    try:
        with zipfile.ZipFile(path) as wheel:
            for name in wheel.namelist():
                if name.endswith("libsheaf.so"):
                    info["libsheaf_sha256"] = hashlib.sha256(wheel.read(name)).hexdigest()[:16]
    except (OSError, zipfile.BadZipFile):
        pass
    return info


def git_state() -> Dict[str, Any]:
    def git(*args: str) -> str:
        proc = subprocess.run(
            ["git", "-C", ROOT, *args], capture_output=True, text=True, check=False
        )
        return proc.stdout.strip() if proc.returncode == 0 else ""

    # The benchmark's own files (bench/, the report) do not count as changes to Sheaf.
    changes = git("status", "--porcelain", "--", ".", ":!bench", ":!BENCHMARKS.md")
    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(changes)}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arcticdb-python", help="python of the ArcticDB venv (required)")
    parser.add_argument("--pypy-python", help="python of the PyPy venv (key-value, call overhead)")
    parser.add_argument("--wheel", help="the sheaf wheel, installed into PyPy (required)")
    parser.add_argument("--workdir", help="scratch directory: data, stores (required)")
    parser.add_argument("--quick", action="store_true", help="the short run (under three minutes)")
    parser.add_argument("--report", required=True, help="the Markdown report to write")
    parser.add_argument(
        "--only",
        help=f"comma-separated sections to run ({','.join(SECTIONS)}; default: all)",
    )
    parser.add_argument("--render", metavar="RESULTS_JSON", help="only render a saved results.json")
    args = parser.parse_args(argv)

    if args.render:
        with open(args.render) as f:
            results = json.load(f)
        report.write(results, args.report)
        print(f"wrote {args.report}")
        return 0

    for name in ("arcticdb_python", "wheel", "workdir"):
        if not getattr(args, name):
            parser.error(f"--{name.replace('_', '-')} is required")
    sections = list(SECTIONS)
    if args.only:
        sections = [s for s in args.only.split(",") if s]
        unknown = set(sections) - set(SECTIONS)
        if unknown:
            parser.error(f"unknown sections {sorted(unknown)}")
    runner = Runner(args)
    status = runner.run(sections)
    report.write(runner.results, args.report)
    minutes = runner.results["meta"]["minutes"]
    print(f"\nwrote {args.report} ({minutes:.1f} min)")
    if status:
        print(
            f"{len(runner.results['errors'])} benchmark(s) failed: see the report", file=sys.stderr
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
