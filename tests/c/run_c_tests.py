#!/usr/bin/env python3
"""Builds and runs Sheaf's C tests, C++ header check, C examples and exported-symbol check.

Used by the project's build.py (``run_all(repo, lib_dir)``) and as a script::

    python3 tests/c/run_c_tests.py [--lib-dir target/x86_64-unknown-linux-gnu/release] \
        [--modes plain,asan,valgrind]

Every ``tests/c/test_*.c`` is linked with the helper sources beside it (``tests/c/*.c`` that are
not tests) and run three ways: plain, built with AddressSanitizer + UndefinedBehaviorSanitizer
(leak detection on), and under valgrind (zero errors and zero definite leaks required). The Rust
library itself is not instrumented; the sanitizers and valgrind still see every allocation it
makes, since for those runs it allocates through malloc (``SHEAF_SYSTEM_ALLOCATOR=1``; it uses
mimalloc otherwise, see ``src/allocator.rs``). A test whose source includes ``<pthread.h>`` is built
with ``-pthread``. Under valgrind the tests get ``SHEAF_TEST_SCALE=0.5`` (unless it is set
already), which the process tests use to shrink their key, item and batch counts.

The process tools ``tests/c/tools/*.c`` (small programs that other suites, e.g. the Python ones,
start as concurrent processes on one store) are built into ``build/c/tools/`` — see
``tools_dir()`` and ``build_tools()`` — and each is run in a small self-check (two appenders at
once, two NEW_ONLY racers at once, consumers draining what the racers stored; once more under
valgrind when that mode is on).

Prints one line per step and ends with ``C tests: N passed, M failed``, where N counts the
test-program runs that passed (tests x modes) plus the tool self-checks that passed, and M every
failed step of any kind. Raises ``CTestFailure`` (exit status 1 as a script) when anything
failed. Build outputs and full logs go to ``build/c/`` (git-ignored); stores go to a temporary
directory that is removed afterwards.

Python 3.8+, standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

MODES: Tuple[str, ...] = ("plain", "asan", "valgrind")

C_FLAGS: List[str] = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-g", "-O1"]
# fork, mkdtemp, nanosleep, kill and friends are POSIX, not C99.
POSIX_FLAGS: List[str] = ["-D_POSIX_C_SOURCE=200809L", "-D_DEFAULT_SOURCE"]
ASAN_FLAGS: List[str] = [
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",  # undefined behaviour fails the run instead of only printing
    "-fno-omit-frame-pointer",
]
VALGRIND: List[str] = [
    "valgrind",
    "--quiet",
    "--error-exitcode=99",
    "--leak-check=full",
    "--errors-for-leak-kinds=definite",
    "--show-leak-kinds=definite",
]
RUN_TIMEOUT_S = 600
# LMDB reserves its whole map as address space; valgrind cannot map the 64 GiB default.
STORE_QUERY = "?map_size=256MB"
# Under valgrind the process tests shrink their sizes by this factor (SHEAF_TEST_SCALE).
VALGRIND_SCALE = "0.5"
TOOLS = ("sheaf_appender", "sheaf_kv_racer", "sheaf_kv_consumer")


def s3_store_uri(tag: str) -> Optional[str]:
    """An s3:// URI on a new bucket of the local S3 server `build.py test` starts
    (SHEAF_TEST_S3_ENDPOINT); None without one, which only a run outside CI may lack."""
    endpoint = os.environ.get("SHEAF_TEST_S3_ENDPOINT")
    if endpoint is None:
        if os.environ.get("CI") == "true":
            raise SystemExit("CI=true needs SHEAF_TEST_S3_ENDPOINT (build.py test starts it)")
        return None
    import urllib.request
    import uuid

    bucket = f"{tag}-{uuid.uuid4().hex[:12]}"
    request = urllib.request.Request(f"{endpoint}/{bucket}", method="PUT", data=b"")
    with urllib.request.urlopen(request) as reply:
        if reply.status != 200:
            raise SystemExit(f"the S3 test server refused to create bucket {bucket}")
    return f"s3://{bucket}/store?endpoint={endpoint}&allow_http=true"


class CTestFailure(RuntimeError):
    """Some C test step failed; the message lists which."""


class _Runner:
    def __init__(self, repo: Path, lib_dir: Path, modes: Sequence[str]) -> None:
        self.repo = repo.resolve()
        self.lib_dir = lib_dir.resolve()
        self.modes = tuple(modes)
        self.include = self.repo / "include"
        self.tests_dir = self.repo / "tests" / "c"
        self.examples_dir = self.repo / "examples" / "c"
        self.build_dir = self.repo / "build" / "c"
        self.log_dir = self.build_dir / "logs"
        self.passed_runs = 0
        self.failures: List[str] = []
        self.tmp: Optional[Path] = None

    # ---- reporting --------------------------------------------------------------------------

    def _step(self, name: str, ok: bool, seconds: float, detail: str = "", log: str = "") -> bool:
        status = "ok  " if ok else "FAIL"
        suffix = f"  ({detail})" if detail else ""
        print(f"[{status}] {name} {seconds:.1f}s{suffix}", flush=True)
        if not ok:
            self.failures.append(name)
            if log:
                lines = log.rstrip().splitlines()
                shown = lines[-80:]
                if len(lines) > len(shown):
                    print(f"       ... {len(lines) - len(shown)} earlier line(s) in the log")
                for line in shown:
                    print(f"       | {line}")
        return ok

    def _save_log(self, name: str, text: str) -> Path:
        path = self.log_dir / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".log")
        path.write_text(text, encoding="utf-8", errors="replace")
        return path

    def _run(
        self,
        name: str,
        cmd: Sequence[str],
        env: Optional[Dict[str, str]] = None,
        timeout: float = RUN_TIMEOUT_S,
    ) -> Tuple[bool, str, float]:
        start = time.monotonic()
        try:
            proc = subprocess.run(
                list(cmd),
                check=False,
                cwd=str(self.repo),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
            out = proc.stdout.decode("utf-8", errors="replace")
            ok = proc.returncode == 0
            if not ok:
                out += f"\n(exit status {proc.returncode})"
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(
                "utf-8", errors="replace"
            ) + f"\n(timed out after {timeout}s)"
            ok = False
        elapsed = time.monotonic() - start
        self._save_log(name, "$ " + " ".join(cmd) + "\n" + out)
        return ok, out, elapsed

    # ---- tools ------------------------------------------------------------------------------

    def ensure_tools(self) -> None:
        needed = {"gcc": "gcc", "g++": "g++", "nm": "binutils"}
        if "valgrind" in self.modes:
            needed["valgrind"] = "valgrind"
        missing = sorted({pkg for tool, pkg in needed.items() if shutil.which(tool) is None})
        if not missing:
            return
        if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise CTestFailure(
                "the C tests need " + ", ".join(missing) + ", which are not installed; install "
                "them (e.g. `sudo apt-get install -y " + " ".join(missing) + "`) and run again"
            )
        print(f"installing {' '.join(missing)} with apt-get", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", *missing], check=True, env=env)
        still = [tool for tool in needed if shutil.which(tool) is None]
        if still:
            raise CTestFailure("apt-get did not provide: " + ", ".join(still))

    # ---- steps ------------------------------------------------------------------------------

    def check_symbols(self) -> None:
        """The sheaf_* functions the library exports are exactly those the header declares."""
        start = time.monotonic()
        header = (self.include / "sheaf.h").read_text(encoding="utf-8")
        code = re.sub(r"/\*.*?\*/", " ", header, flags=re.S)
        code = re.sub(r"//[^\n]*", " ", code)
        declared: Set[str] = set(re.findall(r"\b(sheaf_[A-Za-z0-9_]+)\s*\(", code))
        # Functions only the test build has (the failpoints feature) sit inside
        # `#if defined(SHEAF_TEST_BUILD)`: a library exports all of them or none.
        test_only: Set[str] = set()
        for block in re.findall(r"#if defined\(SHEAF_TEST_BUILD\)(.*?)#endif", code, flags=re.S):
            test_only |= set(re.findall(r"\b(sheaf_[A-Za-z0-9_]+)\s*\(", block))
        proc = subprocess.run(
            ["nm", "-D", "--defined-only", str(self.lib_dir / "libsheaf.so")],
            check=False,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out = proc.stdout.decode("utf-8", errors="replace")
        exported: Set[str] = set()
        for line in out.splitlines():
            parts = line.split()
            if (
                len(parts) >= 3
                and parts[1] in ("T", "t", "W", "i")
                and parts[2].startswith("sheaf_")
            ):
                exported.add(parts[2].split("@")[0])
        problems = []
        if proc.returncode != 0:
            problems.append("nm failed:\n" + out)
        if not declared:
            problems.append("no sheaf_* declarations found in include/sheaf.h")
        if exported - declared:
            problems.append("exported but not declared: " + ", ".join(sorted(exported - declared)))
        if not test_only:
            problems.append("no test-build-only declarations (#if defined(SHEAF_TEST_BUILD))")
        if test_only & exported and test_only - exported:
            problems.append(
                "a test build must export every test-only function; missing: "
                + ", ".join(sorted(test_only - exported))
            )
        if not test_only & exported:
            declared -= test_only  # a shipped build: the test-only functions are absent
        if declared - exported:
            problems.append("declared but not exported: " + ", ".join(sorted(declared - exported)))
        self._step(
            "symbols: nm -D libsheaf.so == sheaf.h declarations",
            not problems,
            time.monotonic() - start,
            f"{len(declared)} functions",
            "\n".join(problems),
        )

    def check_header(self) -> None:
        src = self.tests_dir / "header_cpp_check.cpp"
        ok, out, secs = self._run(
            "header: g++ -std=c++11",
            [
                "g++",
                "-std=c++11",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-fsyntax-only",
                "-I",
                str(self.include),
                str(src),
            ],
        )
        self._step("header: compiles as C++11 (g++ -Wall -Wextra -Werror)", ok, secs, log=out)
        ok, out, secs = self._run(
            "header: gcc -std=c99 -Wpedantic",
            [
                "gcc",
                "-std=c99",
                "-Wall",
                "-Wextra",
                "-Wpedantic",
                "-Werror",
                "-fsyntax-only",
                "-x",
                "c",
                str(self.include / "sheaf.h"),
            ],
        )
        self._step("header: compiles alone as C99 (gcc -Wpedantic -Werror)", ok, secs, log=out)

    def _link_flags(self) -> List[str]:
        return ["-L", str(self.lib_dir), "-lsheaf", f"-Wl,-rpath,{self.lib_dir}"]

    def compile_test(self, test: Path, mode: str) -> Optional[Path]:
        out_dir = self.build_dir / ("asan" if mode == "asan" else "plain")
        out_dir.mkdir(parents=True, exist_ok=True)
        exe = out_dir / test.stem
        helpers = sorted(p for p in self.tests_dir.glob("*.c") if not p.name.startswith("test_"))
        source = test.read_text(encoding="utf-8", errors="replace")
        threads = ["-pthread"] if re.search(r"#\s*include\s*<pthread\.h>", source) else []
        cmd = [
            "gcc",
            *C_FLAGS,
            "-DSHEAF_TEST_BUILD",  # the tests run against the test build (failpoints)
            *threads,
            *POSIX_FLAGS,
            *(ASAN_FLAGS if mode == "asan" else []),
            "-I",
            str(self.include),
            "-I",
            str(self.tests_dir),
            str(test),
            *map(str, helpers),
            "-o",
            str(exe),
            *self._link_flags(),
        ]
        name = f"compile {test.stem} ({'asan+ubsan' if mode == 'asan' else 'plain'})"
        ok, out, secs = self._run(name, cmd)
        return exe if self._step(name, ok, secs, log=out) else None

    def _env(self, mode: str) -> Dict[str, str]:
        env = dict(os.environ)
        assert self.tmp is not None
        env["TMPDIR"] = str(self.tmp)
        # The library's caught panics (sheaf_debug_panic, malformed input) print a line each;
        # a backtrace would only add noise to the logs.
        env["RUST_BACKTRACE"] = "0"
        if mode in ("asan", "valgrind"):
            # Rust allocations through malloc, where the leak checkers see them.
            env["SHEAF_SYSTEM_ALLOCATOR"] = "1"
        if mode == "asan":
            env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1"
            env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
        if mode == "valgrind" and "SHEAF_TEST_SCALE" not in os.environ:
            env["SHEAF_TEST_SCALE"] = VALGRIND_SCALE
        return env

    def run_test(self, exe: Path, mode: str) -> None:
        cmd = [*VALGRIND, str(exe)] if mode == "valgrind" else [str(exe)]
        name = f"run {exe.stem} ({mode})"
        env = self._env(mode)
        s3 = s3_store_uri("c-" + exe.stem.replace("_", "-"))
        if s3 is not None and mode == "plain":
            # Test programs that know it run their suite on this s3:// store too (the
            # sanitizer modes check memory, which the local store runs show as well).
            env["SHEAF_TEST_S3_URI"] = s3
        ok, out, secs = self._run(name, cmd, env=env)
        if self._step(name, ok, secs, log=out):
            self.passed_runs += 1

    def run_examples(self) -> None:
        out_dir = self.build_dir / "examples"
        out_dir.mkdir(parents=True, exist_ok=True)
        exes: Dict[str, Path] = {}
        for src in sorted(self.examples_dir.glob("*.c")):
            exe = out_dir / src.stem
            # The examples are plain C99: no POSIX feature macros, nothing but sheaf.h.
            cmd = [
                "gcc",
                *C_FLAGS,
                "-I",
                str(self.include),
                str(src),
                "-o",
                str(exe),
                *self._link_flags(),
            ]
            name = f"compile example {src.stem}"
            ok, out, secs = self._run(name, cmd)
            if self._step(name, ok, secs, log=out):
                exes[src.stem] = exe
        if "quickstart" not in exes or "print_head" not in exes:
            return
        assert self.tmp is not None
        wrappers = [("", [])]
        if "valgrind" in self.modes:
            wrappers.append((" under valgrind", VALGRIND))
        for i, (label, wrapper) in enumerate(wrappers):
            uri = f"lmdb://{self.tmp}/examples-{i}{STORE_QUERY}"
            env = self._env("plain")
            name = f"example quickstart{label}"
            ok, out, secs = self._run(name, [*wrapper, str(exes["quickstart"]), uri], env=env)
            expected = [
                "wrote prices version 0",
                "wrote prices version 1",
                "2024-01-02T09:30:00.000000000Z",
                "100.75",
                "100.25",
            ]
            missing = [text for text in expected if text not in out]
            self._step(
                name,
                ok and not missing,
                secs,
                log=out + ("\nmissing from the output: " + ", ".join(missing) if missing else ""),
            )
            name = f"example print_head{label}"
            ok, out, secs = self._run(
                name, [*wrapper, str(exes["print_head"]), uri, "demo", "prices", "3"], env=env
            )
            lines = [line for line in out.splitlines() if line and not line.startswith("#")]
            good = (
                ok
                and len(lines) == 4
                and lines[0].split() == ["ts", "open", "close"]
                and lines[1].split() == ["2024-01-02T09:30:00.000000000Z", "100", "100.75"]
            )
            self._step(name, good, secs, log=out + ("" if good else "\n(unexpected output)"))
            if not good:
                continue
            # Reading a symbol that does not exist fails cleanly, with the status named.
            name = f"example print_head, missing symbol{label}"
            ok, out, secs = self._run(
                name, [*wrapper, str(exes["print_head"]), uri, "demo", "nope"], env=env
            )
            good = not ok and "SHEAF_ERR_NO_SUCH_SYMBOL" in out and "(exit status 1)" in out
            self._step(name, good, secs, log=out)

    # ---- process tools ----------------------------------------------------------------------

    def compile_tools(self) -> Dict[str, Path]:
        """Builds tests/c/tools/*.c into build/c/tools/ (plain, rpath to lib_dir)."""
        out_dir = tools_dir(self.repo)
        out_dir.mkdir(parents=True, exist_ok=True)
        src_dir = self.tests_dir / "tools"
        exes: Dict[str, Path] = {}
        for src in sorted(src_dir.glob("*.c")):
            exe = out_dir / src.stem
            cmd = [
                "gcc",
                *C_FLAGS,
                *POSIX_FLAGS,
                "-I",
                str(self.include),
                "-I",
                str(self.tests_dir),
                "-I",
                str(src_dir),
                str(src),
                str(self.tests_dir / "arrow_build.c"),
                "-o",
                str(exe),
                *self._link_flags(),
            ]
            name = f"compile tool {src.stem}"
            ok, out, secs = self._run(name, cmd)
            if self._step(name, ok, secs, log=out):
                exes[src.stem] = exe
        missing = [t for t in TOOLS if not (src_dir / f"{t}.c").is_file()]
        if missing:
            self._step(
                "find tests/c/tools sources", False, 0.0, log="missing: " + ", ".join(missing)
            )
        return exes

    def _spawn(self, cmd: Sequence[str], env: Dict[str, str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            list(cmd), cwd=str(self.repo), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )

    def _tool_step(
        self,
        name: str,
        cmds: Sequence[Sequence[str]],
        check: Callable[[List[str]], List[str]],
        env: Dict[str, str],
    ) -> None:
        """Runs `cmds` at the same time; `check(outputs)` returns a list of problems."""
        start = time.monotonic()
        procs = [self._spawn(c, env) for c in cmds]
        outputs: List[str] = []
        problems: List[str] = []
        for cmd, proc in zip(cmds, procs):
            try:
                out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
                problems.append(f"timed out: {' '.join(cmd)}")
            text = out.decode("utf-8", errors="replace")
            outputs.append(text)
            if proc.returncode != 0:
                problems.append(f"exit status {proc.returncode}: {' '.join(cmd)}")
        if not problems:
            try:
                problems.extend(check(outputs))
            except Exception as e:  # a malformed output file, say
                problems.append(f"checking the outputs failed: {e!r}")
        log = "\n".join("$ " + " ".join(c) + "\n" + o for c, o in zip(cmds, outputs))
        self._save_log(name, log + ("\n" + "\n".join(problems) if problems else ""))
        if self._step(
            name, not problems, time.monotonic() - start, log="\n".join(problems) + "\n" + log
        ):
            self.passed_runs += 1

    def check_tools(self, exes: Dict[str, Path]) -> None:
        if any(t not in exes for t in TOOLS):
            self._step("tool self-checks", False, 0.0, log="not every tool was built")
            return
        assert self.tmp is not None
        work = self.tmp / "tools"
        work.mkdir(exist_ok=True)
        env = self._env("plain")
        app, racer, consumer = (str(exes[t]) for t in TOOLS)
        uri = f"lmdb://{work}/store{STORE_QUERY}"

        # Two appenders at once: each batch reported once with its version, the versions of
        # both together are exactly 0..2n-1, each writer's seqs in order with rising versions.
        n = 12

        def appenders_ok(outputs: List[str]) -> List[str]:
            problems: List[str] = []
            versions: List[int] = []
            for writer, out in zip((1, 2), outputs):
                lines = [line.split() for line in out.splitlines() if line.strip()]
                if [int(f[1]) for f in lines] != list(range(n)) or any(
                    int(f[0]) != writer for f in lines
                ):
                    problems.append(f"appender {writer}: unexpected output")
                mine = [int(f[2]) for f in lines]
                if mine != sorted(mine):
                    problems.append(f"appender {writer}: versions not rising: {mine}")
                versions += mine
            if sorted(versions) != list(range(2 * n)):
                problems.append(f"versions are not 0..{2 * n - 1}: {sorted(versions)}")
            return problems

        s3 = s3_store_uri("c-appenders")
        if s3 is not None:
            self._tool_step(
                "tool sheaf_appender: two at once on s3://",
                [
                    [app, s3, "tools", "appended", "1", str(n), "2"],
                    [app, s3, "tools", "appended", "2", str(n), "2"],
                ],
                appenders_ok,
                env,
            )
        self._tool_step(
            "tool sheaf_appender: two at once",
            [
                [app, uri, "tools", "appended", "1", str(n), "2"],
                [app, uri, "tools", "appended", "2", str(n), "2"],
            ],
            appenders_ok,
            env,
        )

        # Two NEW_ONLY racers on the same keys: exactly one winner per key.
        keys = 300
        outs = [work / "racer1.txt", work / "racer2.txt"]
        wins: Dict[str, int] = {}

        def racers_ok(_outputs: List[str]) -> List[str]:
            problems: List[str] = []
            results = []
            for racer_id, path in zip(("1", "2"), outs):
                lines = path.read_text().splitlines()
                expected = [f"key-{k:06d}" for k in range(keys)]
                if [line.split()[0] for line in lines] != expected:
                    problems.append(f"{path.name}: not one line per key in order")
                results.append({line.split()[0]: line.split()[1] for line in lines})
                wins[racer_id] = sum(1 for line in lines if line.endswith(" won"))
            for k in range(keys):
                key = f"key-{k:06d}"
                got = sorted(r.get(key, "?") for r in results)
                if got != ["lost", "won"]:
                    problems.append(f"{key}: {got}")
                    break
            return problems

        self._tool_step(
            "tool sheaf_kv_racer: two at once",
            [
                [racer, uri, "race", str(keys), "1", str(outs[0])],
                [racer, uri, "race", str(keys), "2", str(outs[1]), "7"],
            ],
            racers_ok,
            env,
        )

        # Two consumers drain what the racers stored: each value once, as many as each won.
        pops = [work / "pop1.txt", work / "pop2.txt"]

        def consumers_ok(_outputs: List[str]) -> List[str]:
            values = [v for p in pops for v in p.read_text().splitlines()]
            got = {r: values.count(r) for r in ("1", "2")}
            if len(values) != keys or got != wins:
                return [f"popped {len(values)} values {got}, the racers won {wins}"]
            return []

        self._tool_step(
            "tool sheaf_kv_consumer: two at once",
            [[consumer, uri, "race", str(pops[0])], [consumer, uri, "race", str(pops[1])]],
            consumers_ok,
            env,
        )

        # A consumer with a control space keeps polling until the control key appears, so it
        # also gets items stored after it started: fill with a racer, then set the key.
        late = work / "late.txt"
        start = time.monotonic()
        proc = self._spawn([consumer, uri, "late", str(late), "ctl", "key-000000"], env)
        time.sleep(0.2)
        fill = subprocess.run(
            [racer, uri, "late", "40", "3", str(work / "fill.txt")],
            check=False,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        flag = subprocess.run(
            [racer, uri, "ctl", "1", "3", str(work / "flag.txt")],
            check=False,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        problems = []
        if fill.returncode != 0 or flag.returncode != 0 or proc.returncode != 0:
            problems.append(
                f"exit statuses: racer {fill.returncode}, {flag.returncode}, "
                f"consumer {proc.returncode}"
            )
        elif late.read_text().splitlines() != ["3"] * 40:
            problems.append("the consumer did not pop the 40 late items")
        text = (
            out.decode("utf-8", errors="replace")
            + fill.stdout.decode("utf-8", errors="replace")
            + flag.stdout.decode("utf-8", errors="replace")
        )
        self._save_log(
            "tool sheaf_kv_consumer waits for its control key", text + "\n".join(problems)
        )
        if self._step(
            "tool sheaf_kv_consumer: waits for its control key",
            not problems,
            time.monotonic() - start,
            log="\n".join(problems) + "\n" + text,
        ):
            self.passed_runs += 1

        if "valgrind" in self.modes:
            vuri = f"lmdb://{work}/vstore{STORE_QUERY}"
            vpop = work / "vpop.txt"
            for name, cmd in (
                ("sheaf_appender", [app, vuri, "tools", "v", "1", "3"]),
                (
                    "sheaf_kv_racer",
                    [racer, vuri, "vrace", "60", "1", str(work / "vrace.txt"), "16"],
                ),
                ("sheaf_kv_consumer", [consumer, vuri, "vrace", str(vpop)]),
            ):
                label = f"tool {name} under valgrind"
                ok, out, secs = self._run(label, [*VALGRIND, *cmd], env=self._env("valgrind"))
                if self._step(label, ok, secs, log=out):
                    self.passed_runs += 1

    # ---- all --------------------------------------------------------------------------------

    def run(self) -> None:
        started = time.monotonic()
        lib = self.lib_dir / "libsheaf.so"
        if not lib.is_file():
            raise CTestFailure(
                f"{lib} does not exist: build the library first (cargo build --release)"
            )
        if not self.tests_dir.is_dir():
            raise CTestFailure(f"{self.tests_dir} does not exist")
        self.ensure_tools()
        self.build_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix="sheaf-ctests-"))
        print(
            f"C tests: library {lib}, modes {', '.join(self.modes)}, logs in {self.log_dir}",
            flush=True,
        )
        try:
            self.check_symbols()
            self.check_header()
            tests = sorted(self.tests_dir.glob("test_*.c"))
            if not tests:
                self._step("find tests/c/test_*.c", False, 0.0, log="no test sources found")
            builds: Dict[str, Dict[str, Optional[Path]]] = {}
            for test in tests:
                builds[test.stem] = {}
                if "plain" in self.modes or "valgrind" in self.modes:
                    builds[test.stem]["plain"] = self.compile_test(test, "plain")
                if "asan" in self.modes:
                    builds[test.stem]["asan"] = self.compile_test(test, "asan")
            for mode in self.modes:
                for test in tests:
                    exe = builds[test.stem].get("asan" if mode == "asan" else "plain")
                    if exe is None:
                        self._step(f"run {test.stem} ({mode})", False, 0.0, log="not built")
                        continue
                    self.run_test(exe, mode)
            self.run_examples()
            self.check_tools(self.compile_tools())
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        total = time.monotonic() - started
        print(
            f"C tests: {self.passed_runs} passed, {len(self.failures)} failed ({total:.1f}s)",
            flush=True,
        )
        if self.failures:
            raise CTestFailure("failed C test steps: " + "; ".join(self.failures))


def tools_dir(repo: Path) -> Path:
    """Where the process tools are built: ``<repo>/build/c/tools`` (``sheaf_appender``,
    ``sheaf_kv_racer``, ``sheaf_kv_consumer``; see the comment at the top of each source in
    ``tests/c/tools/`` for its command line). Built by ``run_all`` or ``build_tools``."""
    return Path(repo).resolve() / "build" / "c" / "tools"


def build_tools(repo: Path, lib_dir: Path) -> Path:
    """Builds only the process tools against ``lib_dir/libsheaf.so`` (no tests, no
    self-check) and returns ``tools_dir(repo)``; raises CTestFailure if one does not build."""
    runner = _Runner(Path(repo), Path(lib_dir), ("plain",))
    runner.build_dir.mkdir(parents=True, exist_ok=True)
    runner.log_dir.mkdir(parents=True, exist_ok=True)
    exes = runner.compile_tools()
    if runner.failures or any(t not in exes for t in TOOLS):
        raise CTestFailure("the process tools did not build: " + "; ".join(runner.failures))
    return tools_dir(repo)


def run_all(repo: Path, lib_dir: Path, modes: Sequence[str] = MODES) -> None:
    """Runs every C check against ``lib_dir/libsheaf.so``; raises CTestFailure on any failure."""
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"unknown mode(s) {unknown}; known: {', '.join(MODES)}")
    _Runner(Path(repo), Path(lib_dir), modes).run()


def main(argv: Optional[Sequence[str]] = None) -> int:
    repo = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--lib-dir",
        type=Path,
        default=repo / "target" / "x86_64-unknown-linux-gnu" / "release",
        help="directory holding libsheaf.so (default: target/x86_64-unknown-linux-gnu/release)",
    )
    parser.add_argument(
        "--modes", default=",".join(MODES), help="comma-separated subset of " + ",".join(MODES)
    )
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    try:
        run_all(repo, args.lib_dir, modes)
    except CTestFailure as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
