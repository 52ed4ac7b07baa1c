"""Renders the results of bench/run.py (results.json) as the Markdown report (BENCHMARKS.md)."""

from __future__ import annotations

import os
import statistics
from typing import Any, Dict, List, Optional, Tuple

ENGINE_NAMES = {
    "sheaf": "Sheaf",
    "arcticdb": "ArcticDB",
    "parquet": "Parquet",
    "ipc": "Arrow IPC",
    "floor_copy": "memcpy floor",
    "floor_lz4": "LZ4 floor",
}
STEP_NAMES = {
    "write": "write (from pandas)",
    "read_pandas": "full read → pandas",
    "read_arrow": "full read → pyarrow",
    "append": "append 100k rows",
    "date_range": "date_range read (100k rows) → pandas",
    "filter_pandas": "filter `c0 > 1.0` → pandas ¹",
    "filter_arrow": "filter `c0 > 1.0` → pyarrow ¹",
    "two_cols": "read 2 columns → pandas",
}
SIZE_NAMES = {
    "sheaf/lz4": "Sheaf, LZ4 (default)",
    "sheaf/zstd": "Sheaf, ZSTD",
    "arcticdb/lz4": "ArcticDB (LZ4, its default)",
    "parquet/snappy": "Parquet, Snappy (pyarrow default)",
    "parquet/zstd": "Parquet, ZSTD",
    "ipc/none": "Arrow IPC, uncompressed",
    "ipc/lz4": "Arrow IPC, LZ4",
    "ipc/zstd": "Arrow IPC, ZSTD",
}
QUERY_NAMES = {
    "q1": "q1: groupby id1, sum(v1)",
    "q3": "q3: groupby id3, sum(v1), sum(v3)",
    "q4": "q4: groupby id6, sum(v1), sum(v2)",
    "adv_q2": "adv_q2: groupby id3, max(v1), min(v2)",
    "filter": "filter v3 < 1.0, column v3",
}
KV_OPS = [
    ("put_single", "put, one key per call (durable commit each) ²", "op"),
    ("get_single", "get, one key per call", "op"),
    ("put_batch", "put, batches of {batch} keys (one transaction each)", "key"),
    ("get_batch", "get, batches of {batch} keys", "key"),
    ("list_keys", "list keys with a prefix ({per} keys)", "listing"),
    ("list_items", "list keys and values with a prefix ({per} keys)", "listing"),
]
KV_ENGINES = [("sheaf", "Sheaf"), ("lmdb", "py-lmdb"), ("sqlite", "sqlite3"), ("dict", "dict")]

# (label, step, peer, highest Sheaf/peer ratio that meets it)
TABLE_TARGETS = [
    ("table write ≥ 2× faster than ArcticDB", "write", 1 / 2),
    ("full read → pyarrow ≥ 3× faster than ArcticDB", "read_arrow", 1 / 3),
    ("full read → pandas ≥ 1.5× faster than ArcticDB", "read_pandas", 1 / 1.5),
    ("date_range read ≥ 2× faster than ArcticDB", "date_range", 1 / 2),
    ("QueryBuilder filter → pandas ≥ 2× faster than ArcticDB's", "filter_pandas", 1 / 2),
    ("QueryBuilder filter → pyarrow ≥ 2× faster than ArcticDB's", "filter_arrow", 1 / 2),
]


def med(times: Optional[List[float]]) -> Optional[float]:
    return statistics.median(times) if times else None


def fmt_s(seconds: Optional[float]) -> str:
    if seconds is None:
        return "–"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.3g} µs"
    return f"{seconds * 1e9:.3g} ns"


def fmt_ratio(r: Optional[float]) -> str:
    if r is None:
        return "–"
    if r < 0.1:
        return f"{r:.2g}"
    return f"{r:.2f}" if r < 10 else f"{r:.0f}"


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_mb(value: Optional[float]) -> str:
    if value is None:
        return "–"
    return f"{value / 1e6:.0f}" if value >= 10e6 else f"{value / 1e6:.1f}"


def human(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def table(header: List[str], rows: List[List[str]], align: Optional[str] = None) -> List[str]:
    align = align or ("l" + "r" * (len(header) - 1))
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


class Report:
    def __init__(self, results: Dict[str, Any]) -> None:
        self.r = results
        self.meta = results.get("meta", {})
        self.lines: List[str] = []
        self.targets: List[Tuple[str, str, str, str, Optional[bool]]] = []

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    # -- figures ----------------------------------------------------------------------------------
    def table_time(self, n: str, op: str, engine: str) -> Optional[float]:
        res = self.r.get("tables", {}).get(n, {}).get(op, {}).get(engine)
        return med(res["times"]) if res else None

    def table_mem(self, n: str, op: str, engine: str) -> Optional[float]:
        res = self.r.get("tables", {}).get(n, {}).get(op, {}).get(engine)
        return res.get("peak_delta") if res else None

    def size(self, kind: str, n: str, fmt: str) -> Optional[int]:
        res = self.r.get("sizes", {}).get(kind, {}).get(n, {}).get(fmt)
        return res["size"]["allocated"] if res else None

    def kv_time(self, impl: str, engine: str, op: str) -> Optional[float]:
        res = self.r.get("kv", {}).get(impl, {}).get(engine)
        return med(res["times"].get(op)) if res else None

    # -- targets ----------------------------------------------------------------------------------
    def collect_targets(self) -> None:
        for n in sorted(self.r.get("tables", {}), key=int):
            label = human(int(n)) + " rows"
            for name, op, limit in TABLE_TARGETS:
                r = ratio(self.table_time(n, op, "sheaf"), self.table_time(n, op, "arcticdb"))
                shown = "not measured" if r is None else f"{fmt_ratio(r)} ({fmt_speedup(r)})"
                self.targets.append(
                    (name, label, shown, f"≤ {limit:.2f}", None if r is None else r <= limit)
                )
        for n in sorted(self.r.get("sizes", {}).get("prices", {}), key=int):
            r = ratio(
                self.size("prices", n, "sheaf/zstd"), self.size("prices", n, "parquet/snappy")
            )
            self.targets.append(
                (
                    "on-disk size, Sheaf ZSTD ≤ Parquet/Snappy (realistic prices)",
                    human(int(n)) + " rows",
                    "not measured" if r is None else fmt_ratio(r),
                    "≤ 1.00",
                    None if r is None else r <= 1.0,
                )
            )
        for impl in ("cpython", "pypy"):
            if impl not in self.r.get("kv", {}):
                continue
            sheaf = self.kv_time(impl, "sheaf", "get_batch")
            peers = [
                t
                for t in (
                    self.kv_time(impl, "lmdb", "get_batch"),
                    self.kv_time(impl, "lmdb", "get_batch_getmulti"),
                )
                if t is not None
            ]
            r = ratio(sheaf, min(peers)) if peers else None
            n = self.r["kv"][impl].get("sheaf", {}).get("n")
            self.targets.append(
                (
                    "batched KV get at least as fast as py-lmdb per key",
                    f"{IMPL[impl]}, {human(n) if n else '?'} keys",
                    "not measured"
                    if r is None
                    else f"{fmt_ratio(r)} ({fmt_s(sheaf)} vs {fmt_s(min(peers))} per key)",
                    "≤ 1.00",
                    None if r is None else r <= 1.0,
                )
            )
        limits = {"cpython": 1e-6, "pypy": 100e-9}
        for impl, limit in limits.items():
            res = self.r.get("overhead", {}).get(impl)
            for call, what in (
                ("abi_version", "`sheaf._lib.lib.sheaf_abi_version()` (one C ABI crossing)"),
                ("library_version", "`sheaf.library_version()` (no crossing)"),
            ):
                t = med(res["times"][call]) if res else None
                self.targets.append(
                    (
                        f"trivial call < {fmt_s(limit)} — {what}",
                        IMPL[impl],
                        "not measured" if t is None else fmt_s(t),
                        f"< {fmt_s(limit)}",
                        None if t is None else t < limit,
                    )
                )

    # -- sections ---------------------------------------------------------------------------------
    def header(self) -> None:
        m = self.meta
        mach = m.get("machine", {})
        versions = m.get("versions", {})
        sv = versions.get("sheaf_venv", {})
        av = versions.get("arcticdb_venv", {})
        pv = versions.get("pypy_venv", {})
        git = m.get("git", {})
        quick = (
            " — QUICK RUN (development figures, not the reference ones)" if m.get("quick") else ""
        )
        self.add(f"# Sheaf benchmarks{quick}", "")
        self.add(
            "Sheaf measured side by side with its peers — ArcticDB (LMDB), Parquet and Arrow IPC "
            "files through pyarrow, py-lmdb, sqlite3 and a Python dict — in one run on one "
            "machine. The machine is shared (other builds and tests run on it), so absolute "
            "times drift: every comparison is a **ratio of medians measured in the same run**, "
            "written Sheaf / peer (below 1: Sheaf is faster or smaller; 0.50 = twice as fast).",
            "",
        )
        load_s = m.get("load_start")
        load_e = m.get("load_end")
        self.add(
            "- **Command:** `python3 build.py bench"
            + (" --quick`" if m.get("quick") else "`")
            + " — it builds the wheel and the three venvs from `bench/requirements-*.txt`, then "
            "runs `<sheaf venv>/bin/python bench/run.py --arcticdb-python <arcticdb venv python> "
            "--pypy-python <pypy venv python> --wheel <sheaf wheel> --workdir build/bench"
            + (" --quick" if m.get("quick") else "")
            + " --report BENCHMARKS.md`",
            f"- **Date:** {m.get('started', '?')} – {m.get('finished', '?')} "
            f"({m.get('minutes', 0):.0f} min)",
            f"- **Machine:** {mach.get('nproc', '?')} CPUs ({mach.get('cpu', '?')}), "
            f"{mach.get('mem_gib', 0):.1f} GiB RAM, Linux {mach.get('kernel', '?')}; "
            "local disk; load average "
            + (f"{load_s[0]:.1f} at the start, " if load_s else "")
            + (f"{load_e[0]:.1f} at the end" if load_e else ""),
            f"- **Sheaf:** {sv.get('sheaf', '?')}, the wheel of the working tree at commit "
            f"{git.get('commit', '?')}"
            + (" (with uncommitted changes outside bench/)" if git.get("dirty") else "")
            + " and the prebuilt `target/x86_64-unknown-linux-gnu/release/libsheaf.so` (SHA-256 "
            + f"{m.get('wheel', {}).get('libsheaf_sha256', '?')}…); "
            f"CPython {sv.get('python', '?')}, pandas {sv.get('pandas', '?')}, "
            f"pyarrow {sv.get('pyarrow', '?')}, numpy {sv.get('numpy', '?')}",
            f"- **Peers:** ArcticDB {av.get('arcticdb', '?')} in its own venv (CPython "
            f"{av.get('python', '?')}, pandas {av.get('pandas', '?')} — arcticdb requires "
            f"pandas < 3 —, pyarrow {av.get('pyarrow', '?')}); Parquet and Arrow IPC through "
            f"pyarrow {sv.get('pyarrow', '?')}; py-lmdb {sv.get('lmdb', '?')}; sqlite "
            f"{sv.get('sqlite3', '?')}"
            + (
                f"; PyPy {pv.get('python', '?')} with py-lmdb {pv.get('lmdb', '?')} (cffi)"
                if pv
                else "; PyPy: not run"
            ),
            "",
        )

    def targets_section(self) -> None:
        self.add("## Targets", "")
        rows = []
        for name, where, measured, goal, ok in self.targets:
            verdict = "not measured" if ok is None else ("**met**" if ok else "**not met**")
            rows.append([name, where, measured, goal, verdict])
        self.add(*table(["target", "where", "measured", "goal", ""], rows, "llrrl"))
        missed = [t for t in self.targets if t[4] is False]
        self.add("")
        if missed:
            self.add(
                f"**Where Sheaf is behind its targets** ({len(missed)} of {len(self.targets)}):", ""
            )
            for name, where, measured, goal, _ in missed:
                self.add(f"- {name} — {where}: {measured}, goal {goal}")
            self.add("")
        else:
            self.add("Every measured target is met.", "")

    def method(self) -> None:
        plan = self.meta.get("plan", {})
        reps = plan.get("table_reps", {})
        rep_lines = []
        for n, ops in sorted(reps.items(), key=lambda x: int(x[0])):
            parts = []
            for op in sorted(ops, key=lambda o: list(STEP_NAMES).index(o)):
                rw = ops[op]
                rounds = rw.get("rounds", 1)
                parts.append(
                    f"{op} {rounds}×{rw['reps']}" + (" (+1 warm-up each)" if rw["warmup"] else "")
                )
            rep_lines.append(f"  - {human(int(n))} rows: " + ", ".join(parts))
        qreps = plan.get("query_reps", {})
        kv = plan.get("kv", {})
        self.add(
            "## Method",
            "",
            "- **Medians.** Each figure is the median of several timed repetitions, all in the "
            "same run; ratios divide two such medians. Repetitions come in rounds: a round is "
            "one fresh worker process per engine, run one after the other, and the rounds "
            "interleave the engines so that a change of load on the machine hits all of them. "
            "Table steps (rounds × timed repetitions per process):",
            *rep_lines,
            "  - queries: "
            + ", ".join(f"{human(int(n))} rows {r} (+1 warm-up)" for n, r in sorted(qreps.items()))
            + f"; key-value: {plan.get('kv_rounds', 1)} rounds (a process per engine) of "
            f"{kv.get('reps', '?')} loads and single-put loops and "
            f"{kv.get('fast_reps', '?')} (+1 warm-up) loops of the gets and listings; "
            "call overhead: "
            f"median of {plan.get('overhead', {}).get('reps', '?')} loops of "
            f"{plan.get('overhead', {}).get('loops', '?')} calls after a warm-up.",
            "- **One fresh process per step.** Each table step (engine × operation × size) runs "
            "in its own worker process — the Sheaf venv's python for Sheaf, Parquet and IPC, the "
            "ArcticDB venv's for ArcticDB — started by `bench/run.py`. The input data are Arrow "
            "IPC files written once per run by `bench/datagen.py` and turned into a pandas "
            "DataFrame (DatetimeIndex `time`, nanoseconds) before the clock starts.",
            "- **Peak memory** is the kernel's resident-set high-water mark of the worker "
            "(`VmHWM`, what `getrusage().ru_maxrss` reports), reset through "
            "`/proc/self/clear_refs` just before the first execution of the step and read just "
            "after it, shown as the increase over the resident set at the start of the step "
            "(interpreter, imports and input frame excluded; the result of a read is included). "
            "It is not tracemalloc: it counts native allocations too.",
            "- **Stores.** Sheaf: `lmdb://` store on the local disk, library compression LZ4 "
            "(default; ZSTD for the size comparison), 100 000 rows per segment. ArcticDB: "
            "`lmdb://` on the same disk, default library options (100 000 rows per segment, "
            "LZ4). Both commit through LMDB with its default durable sync. Parquet: "
            "`DataFrame.to_parquet` (pyarrow, Snappy), reads with `pandas.read_parquet` / "
            "`pyarrow.parquet.read_table`. Arrow IPC: the file format, uncompressed, written "
            "with `pyarrow.ipc.new_file`, read by memory-mapping (so a read to pyarrow is "
            "zero-copy and nearly free; its to-pandas conversion does the copying). The files "
            "are not fsynced.",
            "- **Append** adds 100 000 rows (timestamps after the stored ones) to a symbol of the "
            "full size; Parquet and IPC files cannot be appended to, so their append writes the "
            "100k rows as one more file of a dataset directory.",
            "- **date_range** reads the 100 000 rows starting at 40% of the series. Sheaf and "
            "ArcticDB load only the segments that overlap; Parquet filters on the `time` column "
            "(row-group statistics); IPC binary-searches the memory-mapped index column and "
            "slices.",
            "- ¹ **Filter.** Sheaf and ArcticDB both run their QueryBuilder inside the read "
            "(`q = q[q['c0'] > 1.0]`, `lib.read('main', query_builder=q, output_format=...)`). "
            "Sheaf's first skips the segments whose stored min/max of `c0` prove that no row "
            "passes (none here: with standard-normal data every 100 000-row segment has rows "
            "above 1.0, so every segment is loaded), then evaluates the filter in Rust on Arrow "
            "kernels, segment by segment, and returns only the passing rows (as pyarrow or "
            "pandas). Parquet passes `filters=[('c0', '>', 1.0)]`, IPC filters the mapped table "
            "with `pyarrow.compute`. `c0` is standard-normal, so about 16% of the rows pass.",
            "- **Floors** (`memcpy floor`, `LZ4 floor`): what the machine needs for a step "
            "at the least, measured in the same run by `tables_worker.FloorEngine` in the "
            "Sheaf venv: the memcpy floor copies the bytes the step produces once into fresh "
            "memory (numpy); the LZ4 floor only compresses them (write, append) or "
            "decompresses them (reads), in blocks of 100 000 rows, on one thread (pyarrow's LZ4 "
            "frame codec). No engine can do less work than either; Sheaf / floor says how far "
            "Sheaf is from the hardware. The filter steps have no floor.",
            "- **Data.** *floats*: 10 standard-normal float64 columns `c0`..`c9`, one row a "
            "second. *prices* (realistic): irregular timestamps, six random-walk prices rounded "
            "to 2 decimals, four small int64 columns (sizes 1-100, counts 0-20, flags 0-3, "
            "venue 0-15). *H2O*: ArcticDB's benchmark columns (below).",
            "",
        )

    def tables(self) -> None:
        for n in sorted(self.r.get("tables", {}), key=int):
            label = human(int(n))
            self.add(f"## Tables: {label} rows × 10 float64, DatetimeIndex", "")
            engines = [e for e in ENGINE_NAMES]
            header = ["step", *[ENGINE_NAMES[e] for e in engines]]
            header += [f"Sheaf / {ENGINE_NAMES[e]}" for e in engines[1:]]
            rows = []
            for op, name in STEP_NAMES.items():
                times = {e: self.table_time(n, op, e) for e in engines}
                if all(t is None for t in times.values()):
                    continue
                row = [name, *[fmt_s(times[e]) for e in engines]]
                row += [fmt_ratio(ratio(times["sheaf"], times[e])) for e in engines[1:]]
                rows.append(row)
            self.add("Median wall time of one call:", "")
            self.add(*table(header, rows), "")
            rows = []
            for op, name in STEP_NAMES.items():
                mems = [self.table_mem(n, op, e) for e in engines]
                if all(m is None for m in mems):
                    continue
                rows.append([name, *[fmt_mb(m) for m in mems]])
            self.add("Peak memory of the step (MB above the resident set at its start):", "")
            self.add(*table(["step", *[ENGINE_NAMES[e] for e in engines]], rows), "")
            self.allocated(n)
            self.diagnostic(n)
            found = {
                e: self.r["tables"][n].get("filter_arrow", {}).get(e, {}).get("rows")
                for e in engines
            }
            if any(found.values()):
                self.add(
                    "Rows passing the filter: "
                    + ", ".join(f"{ENGINE_NAMES[e]} {v}" for e, v in found.items() if v)
                    + ".",
                    "",
                )

    def file_delta(self, n: str, op: str, engine: str) -> Optional[float]:
        res = self.r["tables"].get(n, {}).get(op, {}).get(engine, {})
        value = res.get("file_delta")
        return None if value is None else float(value)

    def allocated(self, n: str) -> None:
        """The peak without the store's mapped file pages, against the result's size."""
        rows = []
        for op in ("read_pandas", "read_arrow", "date_range", "two_cols"):
            result = self.table_mem(n, op, "floor_copy")
            cells = [STEP_NAMES[op]]
            for engine in ("sheaf", "arcticdb"):
                peak = self.table_mem(n, op, engine)
                mapped = self.file_delta(n, op, engine)
                if peak is None or mapped is None:
                    cells += ["–", "–"]
                    continue
                own = max(0.0, peak - mapped)
                cells += [f"{fmt_mb(mapped)} / {fmt_mb(own)}", fmt_ratio(ratio(own, result))]
            cells.append(fmt_mb(result))
            rows.append(cells)
        if all(c == "–" for r in rows for c in r[1:5]):
            return
        self.add(
            "Of those peaks, how much is the store's mapped file (an LMDB read touches the "
            "pages it decodes; they stay mapped, as shared page cache the kernel can drop) and "
            "how much the step allocated, against the size of the result (the memcpy floor's "
            "peak):",
            "",
        )
        self.add(
            *table(
                [
                    "step",
                    "Sheaf mapped / allocated",
                    "Sheaf allocated / result",
                    "ArcticDB mapped / allocated",
                    "ArcticDB allocated / result",
                    "result",
                ],
                rows,
            ),
            "",
        )

    def diagnostic(self, n: str) -> None:
        rows = []
        for op, name in STEP_NAMES.items():
            tuned = self.table_time(n, op, "sheaf_malloc")
            if tuned is None:
                continue
            plain = self.table_time(n, op, "sheaf")
            arctic = self.table_time(n, op, "arcticdb")
            rows.append(
                [
                    name,
                    fmt_s(plain),
                    fmt_s(tuned),
                    fmt_ratio(ratio(tuned, plain)),
                    fmt_ratio(ratio(tuned, arctic)),
                ]
            )
        if not rows:
            return
        env = " ".join(f"{k}={v}" for k, v in self.meta.get("malloc_env", {}).items())
        self.add(
            "Diagnostic, not a target figure: the same Sheaf reads in worker processes whose "
            f"glibc malloc keeps freed memory instead of returning it to the kernel (`{env}`). "
            "Every repetition drops the previous result, so by default a read may spend part of "
            "its time faulting in fresh pages for buffers the previous read gave back; where "
            "tuned / default is well below 1, that is roughly the share. Values near or above 1 "
            "show no such cost (single repetitions on this shared machine vary by ±30% and "
            "more; every repetition is in results.json):",
            "",
        )
        self.add(
            *table(
                ["step", "Sheaf", "Sheaf, malloc tuned", "tuned / default", "tuned / ArcticDB"],
                rows,
            ),
            "",
        )

    def s3(self) -> None:
        s3 = self.r.get("s3", {})
        steps = s3.get("steps", {})
        if not steps:
            return
        n = int(s3.get("rows", 0))
        engines = ["sheaf", "arcticdb"]
        self.add(f"## S3 (local server): {human(n)} rows × 10 float64", "")
        self.add(
            "The write, full-read, append and date_range steps of the table benchmarks, with "
            "each engine's store on an S3-compatible server instead of LMDB: Sheaf's "
            "`s3://BUCKET/PREFIX?endpoint=…&allow_http=true` (credentials from the `AWS_*` "
            "variables) and ArcticDB's `s3://127.0.0.1:BUCKET?port=…&access=…&"
            "secret=…&path_prefix=…` (plain http), one bucket per engine, default options of "
            "both (Sheaf LZ4, up to 16 requests in flight; ArcticDB LZ4, its own I/O threads). "
            "The server is `tests/s3_server.py`, the one Sheaf's S3 tests run against: moto's "
            "S3 in memory, on 127.0.0.1, in one Python process that handles **one request at a "
            "time** (a lock serialises them, so conditional writes are atomic). These figures "
            "therefore measure how many requests a step makes and the client's overhead per "
            "request and per byte, with the server's Python on the same 2 cores — not S3's "
            "parallel throughput or a network's latency, where issuing requests concurrently "
            "pays off. Same data, steps, rounds and repetitions as the 1M-row table steps "
            "(see Method); each write step writes into a fresh prefix. Ratios are Sheaf / "
            "ArcticDB (below 1: Sheaf is faster).",
            "",
        )
        rows = []
        for op, name in STEP_NAMES.items():
            res = steps.get(op)
            if not res:
                continue
            times = {e: med(res[e]["times"]) if e in res else None for e in engines}
            rows.append(
                [
                    name,
                    *[fmt_s(times[e]) for e in engines],
                    fmt_ratio(ratio(times["sheaf"], times["arcticdb"])),
                    *[fmt_mb(res[e].get("peak_delta")) if e in res else "–" for e in engines],
                ]
            )
        self.add(
            *table(
                [
                    "step",
                    "Sheaf",
                    "ArcticDB",
                    "Sheaf / ArcticDB",
                    "Sheaf peak MB",
                    "ArcticDB peak MB",
                ],
                rows,
            ),
            "",
        )
        stored = s3.get("stored", {})
        if stored:
            self.add(
                "Stored on the server after writing the symbol once (the library's own objects "
                "included): "
                + "; ".join(
                    f"{ENGINE_NAMES[e]} {stored[e]['objects']} objects, "
                    f"{fmt_mb(stored[e]['bytes'])} MB"
                    for e in engines
                    if e in stored
                )
                + ".",
                "",
            )

    def sizes(self) -> None:
        sizes = self.r.get("sizes", {})
        if not sizes:
            return
        self.add("## On-disk size", "")
        self.add(
            "One write of the data set into a fresh store or file; the bytes allocated on disk "
            "(`st_blocks` × 512, as `du` counts; for the LMDB stores the whole environment "
            "directory). Raw = 8 bytes × 11 columns × rows.",
            "",
        )
        for kind, title in (
            ("floats", "random floats (incompressible)"),
            ("prices", "realistic prices"),
        ):
            for n in sorted(sizes.get(kind, {}), key=int):
                raw = int(n) * 8 * 11
                rows = []
                lz4 = self.size(kind, n, "sheaf/lz4")
                zstd = self.size(kind, n, "sheaf/zstd")
                for fmt, name in SIZE_NAMES.items():
                    s = self.size(kind, n, fmt)
                    rows.append(
                        [
                            name,
                            fmt_mb(s),
                            fmt_ratio(ratio(s, raw)),
                            fmt_ratio(ratio(lz4, s)),
                            fmt_ratio(ratio(zstd, s)),
                        ]
                    )
                self.add(f"### {title}, {human(int(n))} rows (raw {raw / 1e6:.0f} MB)", "")
                self.add(
                    *table(
                        ["format", "MB", "÷ raw", "Sheaf LZ4 / this", "Sheaf ZSTD / this"], rows
                    ),
                    "",
                )

    def query(self) -> None:
        q = self.r.get("query", {})
        if not q:
            return
        engines = ["arcticdb", "pandas", "sheaf"]
        self.add("## Query: H2O db-benchmark columns", "")
        self.add(
            "The queries ArcticDB's own benchmarks run, named after the H2O db-benchmark, three "
            "ways: ArcticDB's QueryBuilder and Sheaf's QueryBuilder, each inside a read of its "
            "`lmdb://` store (`lib.read('h2o', query_builder=q)`, pandas output; the filter "
            "with `columns=['v3']`), and pandas on the frame already in memory (Sheaf venv, "
            "pandas "
            f"{self.meta.get('versions', {}).get('sheaf_venv', {}).get('pandas', '?')}, "
            "`groupby(..., sort=False).agg(...)`). Sheaf evaluates the plan in Rust on Arrow "
            "kernels, segment by segment; its group-by output is sorted by key and indexed by "
            "it, ArcticDB's is unsorted (Sheaf's time includes ordering the groups). The result "
            "rows are `len()` of each output: groups of a group-by, rows passing the filter. "
            "Ratios are Sheaf / peer (below 1: Sheaf is faster).",
            "",
            "Data as ArcticDB's benchmark generator makes it (k = rows/10): `id1`, `id2` strings "
            "of k values, `id3` strings of rows/k values, `id4`, `id5` ints 1..k, `id6` ints "
            "1..rows/k, `v1` 1..5, `v2` 1..15, `v3` uniform 0-100 (6 decimals); one row a minute. "
            "With k = rows/10, `id1` has rows/10 groups and `id3`, `id6` have 10, as in ArcticDB's "
            "generator (the H2O original uses k = 100).",
            "",
        )
        for n in sorted(q, key=int):
            rows = []
            for name, title in QUERY_NAMES.items():
                res = q[n].get(name, {})
                times = {e: med(res[e]["times"]) if e in res else None for e in engines}
                found = ", ".join(
                    str(res[e].get("rows")) if e in res and res[e].get("rows") is not None else "–"
                    for e in engines
                )
                rows.append(
                    [
                        title,
                        *[fmt_s(times[e]) for e in engines],
                        fmt_ratio(ratio(times["sheaf"], times["arcticdb"])),
                        fmt_ratio(ratio(times["sheaf"], times["pandas"])),
                        found if res else "–",
                    ]
                )
            self.add(f"### {human(int(n))} rows", "")
            self.add(
                *table(
                    [
                        "query",
                        "ArcticDB QueryBuilder",
                        "pandas, in memory",
                        "Sheaf QueryBuilder",
                        "Sheaf / ArcticDB",
                        "Sheaf / pandas",
                        "result rows (ArcticDB, pandas, Sheaf)",
                    ],
                    rows,
                ),
                "",
            )
            mem_rows = []
            for name, title in QUERY_NAMES.items():
                res = q[n].get(name, {})
                mem_rows.append(
                    [
                        title,
                        *[fmt_mb(res[e].get("peak_delta")) if e in res else "–" for e in engines],
                    ]
                )
            self.add("Peak memory (MB above the resident set at the start of the query):", "")
            self.add(*table(["query", "ArcticDB", "pandas", "Sheaf"], mem_rows), "")
            self.sql_rows(q[n], n)

    def sql_rows(self, results: Dict[str, Any], n: str) -> None:
        """The same queries as SQL: Sheaf's `lib.sql` against DuckDB over the same data as an
        Arrow table in memory and as Parquet, and ArcticDB's QueryBuilder."""
        engines = ["sheaf-sql", "duckdb-arrow", "duckdb-parquet", "arcticdb"]
        if not any(e in results.get(name, {}) for name in QUERY_NAMES for e in engines[:3]):
            return
        rows = []
        for name, title in QUERY_NAMES.items():
            res = results.get(name, {})
            times = {e: med(res[e]["times"]) if e in res else None for e in engines}
            rows.append(
                [
                    title,
                    *[fmt_s(times[e]) for e in engines],
                    fmt_ratio(ratio(times["sheaf-sql"], times["duckdb-arrow"])),
                    fmt_ratio(ratio(times["sheaf-sql"], times["duckdb-parquet"])),
                    fmt_ratio(ratio(times["sheaf-sql"], times["arcticdb"])),
                ]
            )
        self.add(
            f"The same queries as SQL, {human(int(n))} rows: `lib.sql(...)` (DataFusion inside "
            "Sheaf, over the same `lmdb://` store) against DuckDB "
            f"{self.meta.get('versions', {}).get('sheaf_venv', {}).get('duckdb', '?')} over the "
            "data as an Arrow table in memory and as a Parquet file (zstd), all with pandas "
            "output; ratios are Sheaf SQL / peer.",
            "",
        )
        self.add(
            *table(
                [
                    "query",
                    "Sheaf SQL",
                    "DuckDB, Arrow in memory",
                    "DuckDB, Parquet",
                    "ArcticDB QueryBuilder",
                    "Sheaf SQL / DuckDB Arrow",
                    "Sheaf SQL / DuckDB Parquet",
                    "Sheaf SQL / ArcticDB",
                ],
                rows,
            ),
            "",
        )

    def kv(self) -> None:
        kv = self.r.get("kv", {})
        if not kv:
            return
        self.add("## Key-value", "")
        self.add(
            "16-byte keys (`kNNN:` + 11 digits, 1000 prefixes), 100-byte values, written and read "
            "in shuffled order. Sheaf: `store.kv(name)` on an `lmdb://` store (`put`/`get`, "
            "`put_multi`/`get_multi`, `list_keys`/`list_keyvals`). py-lmdb: default flags "
            "(durable, like Sheaf's LMDB); a single put or get is its own transaction, as a "
            "Sheaf single call is; a batch is one transaction (`cursor.putmulti`; gets as a "
            "`txn.get` loop — `getmulti` is shown separately, and the target takes the faster); "
            "listing walks a cursor from `set_range(prefix)`. sqlite3: `WITHOUT ROWID` table, "
            "WAL, `synchronous=FULL`, one transaction per batch (`executemany`; gets by "
            "`WHERE k IN (…)` in chunks of 500), listing by key range. dict: no persistence, the "
            "floor (a prefix listing scans every key). Times are per key (single calls and "
            "batches) or per listing. Ratios are Sheaf / peer.",
            "",
            "² A single put is one durable commit: it measures the disk's fsync more than the "
            "library (dict has none).",
            "",
        )
        for impl in ("cpython", "pypy"):
            if impl not in kv:
                continue
            res = kv[impl]
            any_res = next(iter(res.values()))
            batch = any_res.get("batch")
            per = any_res.get("keys_per_prefix")
            n = any_res.get("n")
            py = any_res.get("python")
            self.add(f"### {IMPL[impl]} {py}, {human(n)} keys", "")
            engines = [(e, name) for e, name in KV_ENGINES]
            header = ["operation", *[name for _, name in engines]]
            header += [f"Sheaf / {name}" for _, name in engines[1:]]
            rows = []
            for op, title, _unit in KV_OPS:
                times = {e: self.kv_time(impl, e, op) for e, _ in engines}
                row = [title.format(batch=batch, per=per), *[fmt_s(times[e]) for e, _ in engines]]
                row += [fmt_ratio(ratio(times["sheaf"], times[e])) for e, _ in engines[1:]]
                rows.append(row)
                if op == "get_batch":
                    gm = self.kv_time(impl, "lmdb", "get_batch_getmulti")
                    if gm is not None:
                        rows.append(
                            [
                                "get, batches — py-lmdb `getmulti`",
                                "",
                                fmt_s(gm),
                                "",
                                "",
                                fmt_ratio(ratio(times["sheaf"], gm)),
                                "",
                                "",
                            ]
                        )
            self.add(*table(header, rows), "")
            disk = {e: res.get(e, {}).get("disk_bytes") for e, _ in engines[:3]}
            if any(disk.values()):
                self.add(
                    "On disk after loading the keys: "
                    + ", ".join(
                        f"{name} {fmt_mb(disk[e])} MB" for e, name in engines[:3] if disk[e]
                    )
                    + ".",
                    "",
                )
            prefixes = {name: res[e].get("prefixes") for e, name in engines if e in res}
            self.add(
                "Listings timed per repetition: "
                + ", ".join(f"{k} {v}" for k, v in prefixes.items())
                + " prefixes.",
                "",
            )

    def overhead(self) -> None:
        oh = self.r.get("overhead", {})
        if not oh:
            return
        self.add("## Call overhead", "")
        self.add(
            "Median time of one call in a loop (loop overhead included: the first row is the "
            "floor). `library_version()` returns a string read once at import and does not enter "
            "the library; `sheaf_abi_version()` through the package's cffi handle is the cost of "
            "one crossing of the C ABI; `has_symbol` and `KeySpace.exists` on `mem://` are the "
            "cheapest real operations (argument conversion, error slot, a lookup).",
            "",
        )
        calls = [
            ("noop", "a Python function returning None (floor)"),
            ("library_version", "`sheaf.library_version()`"),
            ("abi_version", "`sheaf._lib.lib.sheaf_abi_version()`"),
            ("has_symbol", "`Library.has_symbol('absent')`, mem://"),
            ("kv_exists", "`KeySpace.exists(b'key')`, mem://"),
        ]
        impls = [i for i in ("cpython", "pypy") if i in oh]
        header = ["call", *[f"{IMPL[i]} {oh[i].get('python', '')}" for i in impls]]
        rows = [[title, *[fmt_s(med(oh[i]["times"][c])) for i in impls]] for c, title in calls]
        self.add(*table(header, rows), "")

    def problems(self) -> None:
        errors = self.r.get("errors", [])
        notes = list(self.r.get("notes", []))
        if "pypy" not in self.r.get("kv", {}) and "pypy" not in self.r.get("overhead", {}):
            notes.append("PyPy was not run (no --pypy-python): no PyPy figures.")
        crashes = self.r.get("exit_crashes", [])
        if crashes:
            statuses = sorted({c["status"] for c in crashes})
            notes.append(
                f"{len(crashes)} worker process(es) died with exit status "
                + "/".join(str(s) for s in statuses)
                + " (a negative status is the signal: -11 = SIGSEGV) during interpreter "
                "shutdown, after the step had finished and printed its result; those figures "
                "are kept: " + ", ".join(c["what"] for c in crashes) + "."
            )
        if not errors and not notes:
            return
        self.add("## What did not run, and incidents", "")
        for note in notes:
            self.add(f"- {note}")
        for e in errors:
            msg = e["error"].strip().splitlines()
            self.add(f"- **{e['what']}** failed: `{msg[-1] if msg else '?'}`")
        self.add("")

    def build_costs(self) -> None:
        """bench/BUILD.md, verbatim: what the library costs in size and build time (measured
        by hand on clean builds, which a benchmark run does not make)."""
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "BUILD.md")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                self.add(f.read().rstrip(), "")

    def analysis(self) -> None:
        """bench/ANALYSIS.md, verbatim: what the profiles say still holds Sheaf back (written
        by hand from `perf` runs, so it names the commit it was profiled at)."""
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ANALYSIS.md")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                self.add(f.read().rstrip(), "")

    def render(self) -> str:
        self.collect_targets()
        self.header()
        self.targets_section()
        self.tables()
        self.s3()
        self.sizes()
        self.query()
        self.build_costs()
        self.kv()
        self.overhead()
        self.problems()
        self.analysis()
        self.method()
        self.add(
            "## Reproducing",
            "",
            "`python3 build.py bench` (about "
            f"{self.meta.get('minutes', 0):.0f} minutes here) or `python3 build.py bench --quick` "
            "(1M rows only, 100k keys, fewer repetitions; under three minutes). The raw figures "
            "of every repetition are in `build/bench/results.json`; "
            "`python bench/run.py --render build/bench/results.json --report BENCHMARKS.md` "
            "re-renders this file from them.",
            "",
        )
        return "\n".join(self.lines)


IMPL = {"cpython": "CPython", "pypy": "PyPy"}


def fmt_speedup(r: float) -> str:
    if r <= 0:
        return "–"
    return f"Sheaf {1 / r:.2f}× faster" if r < 1 else f"Sheaf {r:.2f}× slower"


def write(results: Dict[str, Any], path: str) -> None:
    text = Report(results).render()
    with open(path, "w") as f:
        f.write(text)
