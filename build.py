#!/usr/bin/env python3
"""The one entry point of the Sheaf repository.

    python3 build.py demo     build everything, run the C and Python quickstarts on a local store
    python3 build.py test     build everything and run every test suite (what CI runs)
    python3 build.py build    release library (target/x86_64-unknown-linux-gnu/release/libsheaf.so)
    python3 build.py header   regenerate include/sheaf.h and python/sheaf/_cdef.h
    python3 build.py wheel    build the py3-none manylinux_2_17 wheel into dist/
    python3 build.py bench    benchmarks against ArcticDB and others; writes BENCHMARKS.md
                              (--quick: the short run, into build/bench/BENCHMARKS-quick.md)

Every command installs what it needs: Debian packages (valgrind, g++, pypy3, luajit) when
running as root, Rust crates through cargo, Python packages (zig and cargo-zigbuild among them)
into virtual environments under build/venvs/. Only the Rust toolchain and a CPython 3.8+ to run
this script are assumed.

Every build links through zig against glibc 2.17 (cargo-zigbuild): the library, the Rust test
binaries and the wheel share one target directory, and the wheel is a manylinux_2_17 one.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import glob
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent
#: Every build targets glibc 2.17 (manylinux2014): zig links against that glibc's symbol
#: versions (cargo-zigbuild's ``TRIPLE.GLIBC`` target), so the library loads on any
#: distribution since 2014 and the wheel carries a tag a package index accepts.
RUST_TARGET = "x86_64-unknown-linux-gnu"
GLIBC = "2.17"
ZIG_TARGET = f"{RUST_TARGET}.{GLIBC}"
WHEEL_PLATFORM = "manylinux_2_17_x86_64.manylinux2014_x86_64"
TARGET = ROOT / "target" / RUST_TARGET / "release"
LIBRARY = TARGET / "libsheaf.so"
BUILD = ROOT / "build"
VENVS = BUILD / "venvs"
DIST = ROOT / "dist"
# C programs the Python multi-process tests run next to Python processes (built by the C step).
C_TOOLS = BUILD / "c" / "tools"
REQUIREMENTS_FULL = ROOT / "tests" / "python" / "requirements-full.txt"
REQUIREMENTS_PORTABLE = ROOT / "tests" / "python" / "requirements-portable.txt"
REQUIREMENTS_BUILD = ROOT / "python" / "requirements-build.txt"
DEBIAN_PACKAGES = ["valgrind", "g++", "gcc", "pypy3", "pypy3-venv", "luajit"]
# CPython versions that run the portable suite; 3.11 runs the full one.
PORTABLE_CPYTHONS = ["3.8", "3.9", "3.10", "3.12", "3.13"]
FULL_CPYTHON = "3.11"


SKIP_ALLOWLIST = ROOT / "tests" / "skip_allowlist.txt"


def in_ci() -> bool:
    """Whether this is a CI run (``CI=true``, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


class Skip(NamedTuple):
    """One skipped (or, for cargo, ignored) test, as the suite reported it."""

    suite: str  # e.g. "cargo", "cpython3.11-full", "pypy3-portable"
    where: str  # pytest: "portable/test_x.py:12"; cargo: the test's name
    reason: str
    times: int  # how many tests (pytest groups equal skips)


class AllowedSkip(NamedTuple):
    """One entry of tests/skip_allowlist.txt."""

    suite: str  # fnmatch pattern over Skip.suite
    where: str  # fnmatch pattern over Skip.where
    reason: str  # a substring of Skip.reason
    why: str  # why the skip is legitimate

    def matches(self, skip: Skip) -> bool:
        return (
            fnmatch.fnmatchcase(skip.suite, self.suite)
            and fnmatch.fnmatchcase(skip.where, self.where)
            and self.reason in skip.reason
        )


def load_skip_allowlist(path: Path = SKIP_ALLOWLIST) -> List[AllowedSkip]:
    """The entries of the allow-list: "suite | where | reason | why" lines; # starts a comment."""
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in line.split(" | ")]
        if len(fields) != 4 or not all(fields):
            raise SystemExit(
                f"{path}:{number}: expected four non-empty fields "
                f"'suite | where | reason | why', got {line!r}"
            )
        entries.append(AllowedSkip(*fields))
    return entries


# pytest's closing line: "3 passed, 1 skipped in 0.52s" (-q) or framed by "=" without -q.
_PYTEST_SUMMARY = re.compile(r"^=*\s*((?:\d+ [a-z]+(?:, )?)+) in [\d.]+s")
# pytest -rs: "SKIPPED [2] portable/test_x.py:12: reason" (the line may be absent).
_PYTEST_SKIP = re.compile(r"^SKIPPED \[(\d+)\] (\S+?(?::\d+)?): (.*)$")
# cargo test, per test binary: "test result: ok. 4 passed; 0 failed; 1 ignored; ..."
_CARGO_RESULT = re.compile(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored")
# cargo test, per ignored test: "test name ... ignored" or "test name ... ignored, reason".
_CARGO_IGNORED = re.compile(r"^test (.+?) \.\.\. ignored(?:, (.*))?$")


class Totals:
    """Counts test results across suites for the closing lines CI reads, and keeps every skip
    with its reason and every suite that could not run."""

    passed = 0
    failed = 0
    skipped = 0
    skips: ClassVar[List[Skip]] = []
    missing: ClassVar[List[str]] = []  # suites not run: their interpreter is not installed

    @classmethod
    def add(cls, output: str, suite: str) -> None:
        for m in _CARGO_RESULT.finditer(output):
            cls.passed += int(m.group(1))
            cls.failed += int(m.group(2))
            cls.skipped += int(m.group(3))
        for m in re.finditer(r"^C tests: (\d+) passed, (\d+) failed", output, re.M):
            cls.passed += int(m.group(1))
            cls.failed += int(m.group(2))
        for line in output.splitlines():
            ignored = _CARGO_IGNORED.match(line)
            if ignored:
                reason = ignored.group(2) or "(no reason given)"
                cls.skips.append(Skip(suite, ignored.group(1), reason, 1))
            skip = _PYTEST_SKIP.match(line)
            if skip:
                cls.skips.append(Skip(suite, skip.group(2), skip.group(3), int(skip.group(1))))
            summary = _PYTEST_SUMMARY.match(line)
            if summary:
                for count, word in re.findall(r"(\d+) ([a-z]+)", summary.group(1)):
                    if word == "passed":
                        cls.passed += int(count)
                    elif word in ("failed", "error", "errors"):
                        cls.failed += int(count)
                    elif word == "skipped":
                        cls.skipped += int(count)

    @classmethod
    def report(cls) -> List[str]:
        """Lists the skips and the suites not run; returns why the run fails under CI=true
        (unlisted skips, suites that could not run), empty when it does not."""
        allowed = load_skip_allowlist()
        problems = []
        if cls.skips:
            print(f"\nskipped tests ({sum(s.times for s in cls.skips)}):")
        for skip in cls.skips:
            entry = next((a for a in allowed if a.matches(skip)), None)
            times = f" ({skip.times}x)" if skip.times > 1 else ""
            print(f"  {skip.suite}: {skip.where}{times}: {skip.reason}")
            if entry is not None:
                print(f"      allowed: {entry.why}")
            else:
                print(f"      NOT on the allow-list ({SKIP_ALLOWLIST.relative_to(ROOT)})")
                problems.append(f"{skip.suite}: {skip.where}: {skip.reason}")
        listed = sum(s.times for s in cls.skips)
        if listed != cls.skipped:
            # e.g. a pytest run without -rs: the skips are counted but not listed.
            unlisted = f"{cls.skipped} tests skipped, but {listed} listed with a reason"
            print(f"  {unlisted}")
            problems.append(unlisted)
        for suite in cls.missing:
            print(f"  {suite}: NOT RUN (its interpreter is not installed)")
            problems.append(f"{suite}: not run, its interpreter is not installed")
        return problems

    @classmethod
    def closing_line(cls) -> str:
        return f"{cls.passed} passed, {cls.failed} failed, {cls.skipped} skipped"


def step(title: str) -> None:
    print(f"\n==> {title}", flush=True)


def run(
    cmd: Sequence[str],
    *,
    cwd: Path = ROOT,
    env: Optional[Dict[str, str]] = None,
    capture: bool = False,
    suite: str = "",
) -> str:
    """Runs a command, echoing it; raises SystemExit with its status on failure. With
    ``capture``, the output is also returned, and counted in :class:`Totals` as ``suite``'s."""
    print("$ " + " ".join(str(c) for c in cmd), flush=True)
    merged = dict(os.environ, **(env or {}))
    if not capture:
        result = subprocess.run([str(c) for c in cmd], cwd=str(cwd), env=merged, check=False)
        if result.returncode != 0:
            raise SystemExit(
                f"command failed with status {result.returncode}: {' '.join(map(str, cmd))}"
            )
        return ""
    proc = subprocess.Popen(
        [str(c) for c in cmd],
        cwd=str(cwd),
        env=merged,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        sys.stdout.write(line)
        lines.append(line)
    sys.stdout.flush()
    output = "".join(lines)
    Totals.add(output, suite)
    if proc.wait() != 0:
        raise SystemExit(f"command failed with status {proc.returncode}: {' '.join(map(str, cmd))}")
    return output


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


_apt_updated = False


def apt_install(packages: List[str]) -> None:
    """Installs missing Debian packages when running as root; says what is missing otherwise."""
    global _apt_updated
    missing = [
        p
        for p in packages
        if subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True, check=False
        ).stdout.strip()
        != "install ok installed"
    ]
    if not missing:
        return
    if not is_root() or not shutil.which("apt-get"):
        print(f"note: Debian packages missing and not installable here: {' '.join(missing)}")
        return
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        run(["apt-get", "update", "-q"], env=env)
        _apt_updated = True
    run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], env=env)


def cargo(*args: str, capture: bool = False, env: Optional[Dict[str, str]] = None) -> str:
    if not shutil.which("cargo"):
        raise SystemExit("cargo is not on PATH: install the Rust toolchain (rustup) first")
    return run(["cargo", *args], capture=capture, env=env, suite="cargo")


def build_tools_python() -> Path:
    """A venv with cargo-zigbuild, zig (the ``ziglang`` package) and auditwheel."""
    interpreter = find_cpython(FULL_CPYTHON) or Path(sys.executable)
    return venv_python("build-tools", interpreter, REQUIREMENTS_BUILD)


def zig_cargo(
    subcommand: str, *args: str, capture: bool = False, env: Optional[Dict[str, str]] = None
) -> str:
    """``cargo SUBCOMMAND`` (``zigbuild`` for a build) for the glibc 2.17 target, zig as C
    compiler and linker. Every build and test run goes through here with the same target and
    environment, so the dependencies are compiled once for all of them."""
    if not shutil.which("cargo"):
        raise SystemExit("cargo is not on PATH: install the Rust toolchain (rustup) first")
    tools = build_tools_python()
    zig_env = {"CARGO_ZIGBUILD_PYTHON_PATH": str(tools), **(env or {})}
    return run(
        [tools.parent / "cargo-zigbuild", subcommand, "--target", ZIG_TARGET, *args],
        capture=capture,
        env=zig_env,
        suite="cargo",
    )


def check_wheel_platform(wheel: Path) -> None:
    """auditwheel must find the wheel's library consistent with the tag it carries."""
    out = run([build_tools_python().parent / "auditwheel", "show", wheel], capture=True)
    tag = WHEEL_PLATFORM.split(".", 1)[0]
    if f'platform tag: "{tag}"' not in out:
        raise SystemExit(f"auditwheel does not place {wheel.name} at {tag}:\n{out}")
    print(f"auditwheel: {wheel.name} is consistent with {tag}")


def version() -> str:
    text = (ROOT / "Cargo.toml").read_text()
    m = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M)
    if not m:
        raise SystemExit("no version in Cargo.toml")
    return m.group(1)


# ---------------------------------------------------------------- commands


def cmd_header() -> None:
    step("regenerating include/sheaf.h and python/sheaf/_cdef.h (cbindgen)")
    zig_cargo(*HEADER_CHECK, env={"SHEAF_BLESS_HEADER": "1"})


#: The header check (tools/header): cbindgen in a package of its own, so that its features do
#: not change the library's dependency build.
HEADER_CHECK = ["test", "--release", "--locked", "-p", "sheaf-header"]


#: The test build's cargo features: the pause point the GIL tests arm (src/failpoints.rs).
#: The shipped library (`build.py wheel`, `demo`) is built without them.
TEST_FEATURES = ["--features", "failpoints"]


def cmd_build(test_build: bool = False) -> None:
    step("building the release library" + (" (test build: failpoints)" if test_build else ""))
    zig_cargo("zigbuild", "--release", "--locked", *(TEST_FEATURES if test_build else []))
    if not LIBRARY.exists():
        raise SystemExit(f"{LIBRARY} was not produced")


def tooling_python() -> Path:
    """CPython 3.11 in a venv with the full requirements: builds the wheel, runs mypy and ruff."""
    full = find_cpython(FULL_CPYTHON)
    if full is None:
        raise SystemExit(
            f"CPython {FULL_CPYTHON} is required and was not found (~/.pyenv/versions or PATH)"
        )
    return venv_python(f"cpython{FULL_CPYTHON}-full", full, REQUIREMENTS_FULL)


def cmd_wheel(test_build: bool = False) -> Path:
    """The wheel in dist/ (shipped) or, for the test suites, one built with the failpoints
    feature in build/test-dist/ (never to be shipped)."""
    cmd_build(test_build)
    step("building the wheel" + (" (test build)" if test_build else ""))
    out = BUILD / "test-dist" if test_build else DIST
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("sheaf-*.whl"):
        old.unlink()
    run(
        [
            tooling_python(),
            ROOT / "python" / "build_wheel.py",
            "--lib",
            LIBRARY,
            "--out",
            out,
            "--version",
            version(),
            "--platform",
            WHEEL_PLATFORM,
        ]
    )
    wheels = sorted(out.glob("sheaf-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one wheel in {out}, found {len(wheels)}")
    wheel = wheels[0]
    check_wheel_platform(wheel)
    print(f"wrote {wheel.relative_to(ROOT)} ({wheel.stat().st_size / 1e6:.1f} MB)")
    return wheel


def find_cpython(minor: str) -> Optional[Path]:
    """The interpreter for CPython `minor` (e.g. "3.9"): pyenv's, then PATH's."""
    home = Path.home() / ".pyenv" / "versions"
    for candidate in sorted(
        glob.glob(str(home / f"{minor}.*" / "bin" / f"python{minor}")), reverse=True
    ):
        return Path(candidate)
    on_path = shutil.which(f"python{minor}")
    if on_path:
        return Path(on_path)
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == minor:
        return Path(sys.executable)
    return None


def find_pypy() -> Optional[Path]:
    found = shutil.which("pypy3")
    if not found:
        apt_install(["pypy3", "pypy3-venv"])
        found = shutil.which("pypy3")
    return Path(found) if found else None


def venv_python(name: str, interpreter: Path, *requirements: Path) -> Path:
    """A venv under build/venvs/NAME with `requirements` installed (reused when unchanged)."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    stamp = venv / ".requirements"
    wanted = "".join(r.read_text() for r in requirements)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if venv.exists():
        shutil.rmtree(venv)
    VENVS.mkdir(parents=True, exist_ok=True)
    run([interpreter, "-m", "venv", venv])
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    for r in requirements:
        run([*pip, "-r", r])
    stamp.write_text(wanted)
    return python


def install_wheel(python: Path, wheel: Path) -> None:
    run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--force-reinstall",
            "--no-deps",
            wheel,
        ]
    )


def pytest(
    python: Path, suites: List[str], name: str, extra_env: Optional[Dict[str, str]] = None
) -> None:
    """Runs pytest from tests/python against the installed wheel (the package's source is not
    on that path), so each suite's conftest.py scopes its own fixtures. SHEAF_C_TOOLS_DIR
    points the cross-language concurrency tests at the C programs; ``extra_env`` is added
    (the S3 server's variables). ``-rsfE`` lists every skip with its reason (read by
    :class:`Totals` as suite ``name``), failures and errors. Under CI=true,
    tests/python/conftest.py loads the derandomized Hypothesis profile."""
    env = {"PYTHONDONTWRITEBYTECODE": "1", "SHEAF_C_TOOLS_DIR": str(C_TOOLS), **(extra_env or {})}
    run(
        [python, "-m", "pytest", "-q", "-rsfE", "-p", "no:cacheprovider", *suites],
        cwd=ROOT / "tests" / "python",
        capture=True,
        env=env,
        suite=name,
    )


@contextlib.contextmanager
def s3_test_server() -> Iterator[Dict[str, str]]:
    """The local S3 server of the s3:// tests (tests/s3_server.py: moto, its requests
    serialised), run by the tooling venv's Python (moto[server] is in the full requirements).
    Yields the variables of the test processes: SHEAF_TEST_S3_ENDPOINT and fake AWS
    credentials and region. Stopped on exit, also on a failure or KeyboardInterrupt (and by
    itself when this process dies)."""
    python = tooling_python()
    step("starting the local S3 server (tests/s3_server.py: moto, requests serialised)")
    sys.path.append(str(ROOT / "tests"))
    import s3_server  # type: ignore[import-not-found]

    with s3_server.s3_server(python) as endpoint:
        print(f"S3 endpoint: {endpoint}", flush=True)
        try:
            yield s3_server.test_environment(endpoint)
        finally:
            print(f"stopping the local S3 server at {endpoint}", flush=True)


@contextlib.contextmanager
def environ_set(variables: Dict[str, str]) -> Iterator[None]:
    """``variables`` in os.environ for the block, as they were after it (for the steps that run
    in this process and read os.environ, e.g. the C tests)."""
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def counted_output(suite: str) -> Iterator[None]:
    """Echoes what the block prints and, at its end (also on failure), counts the results in
    it for the closing report as ``suite``."""
    from io import StringIO

    buffer = StringIO()

    class Tee:
        def write(self, text: str) -> int:
            sys.__stdout__.write(text)
            buffer.write(text)
            return len(text)

        def flush(self) -> None:
            sys.__stdout__.flush()

    try:
        with contextlib.redirect_stdout(Tee()):  # type: ignore[type-var]
            yield
    finally:
        Totals.add(buffer.getvalue(), suite)


def run_c_tests(extra_env: Optional[Dict[str, str]] = None) -> None:
    step("C tests (plain, ASan/UBSan, valgrind), header as C++, exported symbols vs header")
    apt_install(["valgrind", "g++"])
    sys.path.insert(0, str(ROOT / "tests" / "c"))
    import run_c_tests as c_tests  # type: ignore[import-not-found]

    # The C tests run in this process: they read os.environ.
    with environ_set(extra_env or {}), counted_output("c"):
        c_tests.run_all(ROOT, TARGET)


def run_ffi_language_tests() -> None:
    """LuaJIT drives the C ABI through the header's own declarations (plain, then under
    valgrind); the Julia example's ccalls are checked against the header and the exports."""
    step("LuaJIT FFI test (plain and valgrind); Julia ccalls vs include/sheaf.h and exports")
    apt_install(["luajit", "valgrind"])
    sys.path.insert(0, str(ROOT / "tests" / "luajit"))
    sys.path.insert(0, str(ROOT / "tests" / "julia"))
    import check_julia_ccalls  # type: ignore[import-not-found]
    import run_luajit_tests  # type: ignore[import-not-found]

    failures: List[str] = []
    with counted_output("ffi"):
        for name, valgrind in (("LuaJIT", False), ("LuaJIT under valgrind", True)):
            try:
                run_luajit_tests.run_all(ROOT, TARGET, valgrind=valgrind)
            except SystemExit as e:
                failures.append(f"{name}: {e.code}")
        try:
            check_julia_ccalls.run_all(ROOT, TARGET)
        except SystemExit as e:
            failures.append(f"Julia ccall check: {e.code}")
    if failures:
        raise SystemExit("; ".join(failures))


def run_python_suites(wheel: Path, extra_env: Optional[Dict[str, str]] = None) -> None:
    step(f"Python: full suite on CPython {FULL_CPYTHON} (pandas, pyarrow, polars)")
    python = tooling_python()
    install_wheel(python, wheel)
    pytest(python, ["full", "portable"], f"cpython{FULL_CPYTHON}-full", extra_env)
    step("Python: mypy (strict) and ruff on the package, tests, examples and build.py")
    run([python, "-m", "mypy"], cwd=ROOT / "python")
    sources = [
        ROOT / "python",
        ROOT / "tests" / "python",
        ROOT / "examples" / "python",
        ROOT / "build.py",
        ROOT / "tests" / "c" / "run_c_tests.py",
        ROOT / "tests" / "luajit" / "run_luajit_tests.py",
        ROOT / "tests" / "julia" / "check_julia_ccalls.py",
    ]
    config = ["--config", ROOT / "python" / "pyproject.toml"]
    run([python, "-m", "ruff", "check", *config, *sources])
    run([python, "-m", "ruff", "format", "--check", *config, *sources])

    interpreters: List[tuple] = [(f"cpython{v}", find_cpython(v)) for v in PORTABLE_CPYTHONS]
    interpreters.append(("pypy3", find_pypy()))
    for name, interpreter in interpreters:
        step(f"Python: portable suite on {name}")
        if interpreter is None:
            # Listed in the closing report; under CI=true it fails the run.
            print(f"NOT RUN: {name} is not installed on this machine")
            Totals.missing.append(f"{name}-portable")
            continue
        python = venv_python(f"{name}-portable", interpreter, REQUIREMENTS_PORTABLE)
        install_wheel(python, wheel)
        pytest(python, ["portable"], f"{name}-portable", extra_env)


def cmd_test() -> None:
    """Runs every suite, then lists the skips and prints "N passed, N failed, N skipped" (also
    when a suite failed). Under CI=true a skip missing from tests/skip_allowlist.txt, or a
    suite whose interpreter is missing, fails the run."""
    started = time.time()
    load_skip_allowlist()  # a malformed allow-list fails before the long run, not after it
    # One build of everything for the whole run: the Rust tests, the C tests and the test
    # wheel share the release profile, without cross-crate LTO. With thin LTO over DataFusion,
    # linking each test binary took over ten minutes; the shipped library (`build.py wheel`,
    # `demo`, `bench`) keeps it.
    os.environ["CARGO_PROFILE_RELEASE_LTO"] = "false"
    try:
        apt_install(["valgrind", "g++", "luajit"])
        step("Rust: formatting and lints")
        cargo("fmt", "--check")
        cargo("clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings")
        # --workspace both times: the same feature set for the dependencies, so the second
        # run checks only the crate whose features differ.
        cargo(
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--features",
            "sheaf/failpoints",
            "--",
            "-D",
            "warnings",
        )
        # Every test process gets the S3 server's endpoint and fake credentials; the
        # other steps (builds, pip, linters) do not.
        with s3_test_server() as s3_env:
            # The release profile, as the library's build: one build of the dependencies
            # (DataFusion's included) serves the tests, the C tests and the wheel.
            step("Rust: unit and integration tests")
            zig_cargo("test", "--release", "--locked", *TEST_FEATURES, capture=True, env=s3_env)
            step("the committed header matches the sources (cbindgen)")
            zig_cargo(*HEADER_CHECK, capture=True)
            wheel = cmd_wheel(test_build=True)
            run_c_tests(s3_env)
            run_ffi_language_tests()
            run_python_suites(wheel, s3_env)
    except BaseException:
        Totals.report()
        print(f"\nthe run FAILED (see above)\n{Totals.closing_line()}", flush=True)
        raise
    problems = Totals.report()
    minutes = (time.time() - started) / 60
    if problems and in_ci():
        print("\nCI=true: the run FAILS because")
        for problem in problems:
            print(f"  {problem}")
        print(f"(a legitimate skip belongs in {SKIP_ALLOWLIST.relative_to(ROOT)}, with its reason)")
        print(Totals.closing_line(), flush=True)
        raise SystemExit(1)
    if problems:
        print(f"\nnote: {len(problems)} problem(s) listed above would fail a CI=true run")
    print(f"\nall suites passed in {minutes:.1f} min")
    print(Totals.closing_line(), flush=True)


def cmd_demo() -> None:
    wheel = cmd_wheel()
    store = ROOT / "demo-store"
    uri = f"lmdb://{store}"
    step("C quickstart: a small time series written and read back from C")
    c_store = BUILD / "demo-c-store"
    if c_store.exists():
        shutil.rmtree(c_store)
    binaries = compile_examples()
    run([binaries["quickstart"], f"lmdb://{c_store}"])
    step("Python quickstart: one million rows, two versions, time travel")
    python = tooling_python()
    install_wheel(python, wheel)
    run([python, ROOT / "examples" / "python" / "quickstart.py", store], cwd=BUILD)
    step("C reads what Python wrote: same store, same symbol")
    run([binaries["print_head"], uri, "demo", "prices", "5"])
    print(f"\nstore: {store}")


#: Pinned mutation-testing tool (installed through the registry on first use).
CARGO_MUTANTS_VERSION = "27.1.0"

#: The commit path — what decides whether acknowledged data is durable, applied once and
#: readable — file by file, with the tests each of its mutants runs: cargo test targets, and the
#: operations of tests/it/commit_protocol.rs that touch the file (SHEAF_PROTOCOL_OPS). The scope
#: goes to the build as well, so a mutant links only the test binaries that run.
COMMIT_PATH: Dict[str, Tuple[List[str], str]] = {
    "src/table/commit.rs": (
        ["--lib", "commit_protocol", "commit_retries", "table", "timeseries"],
        "write,write_prune,append,update,update_tail,delete,prune,compact,finalize_append,"
        "delete_staged,snapshot,delete_snapshot,delete_library",
    ),
    "src/table/staging.rs": (
        ["--lib", "commit_protocol", "timeseries"],
        "stage,finalize_append,finalize_write,finalize_sort,delete_staged,write,append,delete,"
        "write_prune,delete_library",
    ),
    "src/table/versions.rs": (
        ["--lib", "commit_protocol", "commit_retries", "table", "timeseries"],
        "write,write_prune,append,delete,prune,compact,snapshot,delete_snapshot",
    ),
    "src/table/record.rs": (
        ["--lib", "commit_protocol", "corruption", "table"],
        "write,append,update,delete,prune,finalize_append,delete_staged,stage,snapshot,"
        "write_metadata",
    ),
    "src/checksum.rs": (["--lib", "corruption"], "write"),
    "src/keys.rs": (["--lib"], "write"),
    "src/error.rs": (["--lib", "ffi"], "write"),
    "src/store.rs": (
        ["--lib", "commit_protocol", "kv", "ffi", "storage"],
        "create_library,delete_library,kv_put,kv_erase,drop_kv,doc_store,doc_update,doc_erase,"
        "drop_collection,write",
    ),
    "src/table/verify.rs": (
        ["--lib", "commit_protocol", "corruption"],
        "write,append,finalize_append,stage,snapshot,delete,prune,delete_library",
    ),
    "src/verify.rs": (
        ["--lib", "commit_protocol", "corruption"],
        "write,append,finalize_append,stage,snapshot,kv_put,doc_store,delete_library,drop_kv,"
        "drop_collection",
    ),
}

#: The scope of a file outside the commit path, and of an --in-diff run.
DEFAULT_MUTANT_TESTS = ["--lib", "commit_protocol", "commit_retries", "corruption", "table", "ffi"]


#: Test binaries of their own; every other name in a scope is a module of tests/it.
OWN_TEST_BINARIES = {"commit_retries"}


def mutant_scope(tests: List[str]) -> List[str]:
    """Cargo arguments selecting test targets, each passed with -C so that cargo-mutants uses
    them for the build and the test run alike. A module of tests/it selects that binary (all
    of it: libtest filters would also filter the other targets)."""
    targets: List[str] = []
    for t in tests:
        target = t if t.startswith("--") else f"--test={t if t in OWN_TEST_BINARIES else 'it'}"
        if target not in targets:
            targets.append(target)
    args: List[str] = []
    for target in targets:
        args += ["-C", target]
    return args


def cmd_mutants(files: List[str], in_diff: Optional[str], python: bool = False) -> None:
    """Mutation testing (not part of CI): cargo-mutants over `files` (default: the commit
    path) or over what changed since `in_diff`, each file's mutants scoped to the tests that
    exercise it (COMMIT_PATH; SHEAF_MUTANTS_TESTS, e.g. "--lib corruption", overrides).
    Results go to build/mutants/<file>/; docs/testing.md records the last runs. With `python`,
    mutmut over the Python package instead (cmd_mutants_python)."""
    if python:
        cmd_mutants_python(files)
        return
    out = BUILD / "mutants"
    out.mkdir(parents=True, exist_ok=True)
    installed = subprocess.run(
        ["cargo", "mutants", "--version"], capture_output=True, text=True, check=False
    )
    if CARGO_MUTANTS_VERSION not in installed.stdout:
        step(f"installing cargo-mutants {CARGO_MUTANTS_VERSION}")
        cargo("install", "--locked", "cargo-mutants", "--version", CARGO_MUTANTS_VERSION)
    override = os.environ.get("SHEAF_MUTANTS_TESTS")
    runs: List[Tuple[str, List[str], List[str], Optional[str]]] = []
    if in_diff:
        diff = out / "in-diff.patch"
        changed = subprocess.run(
            ["git", "diff", in_diff, "--", "src"],
            cwd=str(ROOT),
            capture_output=True,
            text=True,
            check=True,
        )
        diff.write_text(changed.stdout)
        tests = override.split() if override else DEFAULT_MUTANT_TESTS
        runs.append(("in-diff", ["--in-diff", str(diff)], tests, None))
    else:
        for f in files or list(COMMIT_PATH):
            tests, ops = COMMIT_PATH.get(f, (DEFAULT_MUTANT_TESTS, None))
            name = f.replace("src/", "").replace("/", "-").replace(".rs", "")
            runs.append((name, ["--file", f], override.split() if override else tests, ops))
    totals: Dict[str, int] = {}
    for name, selection, tests, ops in runs:
        step(f"cargo-mutants {name}: {' '.join(selection)} (tests: {' '.join(tests)})")
        # In place: the debug target is reused instead of copied (do not edit src/ while it
        # runs; each mutation is reverted after its test). The unmutated tree must pass first.
        cmd = [
            "cargo",
            "mutants",
            "--in-place",
            "--no-shuffle",
            "-o",
            str(out / name),
            "--features",
            "failpoints",
            *selection,
            *mutant_scope(tests),
        ]
        env = dict(os.environ)
        if ops and "SHEAF_PROTOCOL_OPS" not in env:
            env["SHEAF_PROTOCOL_OPS"] = ops
        result = subprocess.run(cmd, cwd=str(ROOT), env=env, check=False)
        # cargo-mutants exits 2 when mutants survive: a finding to read, not a tool crash.
        if result.returncode not in (0, 2, 3):
            raise SystemExit(f"cargo mutants failed with status {result.returncode}")
        for kind in ("caught", "missed", "timeout", "unviable"):
            listing = out / name / "mutants.out" / f"{kind}.txt"
            count = len(listing.read_text().splitlines()) if listing.exists() else 0
            totals[kind] = totals.get(kind, 0) + count
            print(f"  {kind}: {count}")
    print("total: " + ", ".join(f"{k} {v}" for k, v in totals.items()))
    print(f"survivors: {out}/*/mutants.out/missed.txt")


#: mutmut, the Python side of `build.py mutants --python` (3.x; works on the full venv's 3.11).
MUTMUT_VERSION = "3.8.1"
#: What `mutants --python` mutates by default: the status -> class mapping, the calling helper,
#: the packed buffers and the option encoding. `--file sheaf/x.py` picks others and
#: `--file sheaf/` the whole package (about 2 hours on 2 cores).
PY_MUTANTS_DEFAULT = ["sheaf/errors.py", "sheaf/_lib.py", "sheaf/_packed.py", "sheaf/_options.py"]
#: Portable test files each mutant does not run: other processes and thread timing (slow,
#: and about concurrency the library owns, not the Python code).
PY_MUTANTS_SKIPPED_TESTS = [
    "test_processes.py",
    "test_kv_processes.py",
    "test_threads.py",
    "_procs.py",
    "_kv_workers.py",
]


def cmd_mutants_python(files: List[str]) -> None:
    """Mutation testing of the Python package with pinned mutmut: the package is staged from
    source with its `_native/` (cffi module + a failpoints libsheaf.so; SHEAF_MUTANTS_LIB
    names a prebuilt one instead of building it) in build/mutmut-py/, and each mutant runs the
    portable tests that cover the mutated function (mutmut 3 picks them by coverage)."""
    import json

    python = tooling_python()
    run([python, "-m", "pip", "install", "-q", f"mutmut=={MUTMUT_VERSION}"])
    prebuilt = os.environ.get("SHEAF_MUTANTS_LIB")
    if prebuilt:
        lib = Path(prebuilt)
    else:
        cmd_build(test_build=True)
        lib = LIBRARY
    work = BUILD / "mutmut-py"
    if work.exists():
        shutil.rmtree(work)
    run([python, ROOT / "python" / "build_wheel.py", "--lib", lib, "--out", work, "--stage-only"])
    tests = work / "tests"
    tests.mkdir()
    for helper in ("conftest.py", "_hypothesis.py", "_pause.py"):
        shutil.copy2(ROOT / "tests" / "python" / helper, tests / helper)
    shutil.copytree(
        ROOT / "tests" / "python" / "portable",
        tests / "portable",
        ignore=shutil.ignore_patterns("__pycache__", *PY_MUTANTS_SKIPPED_TESTS),
    )
    # The tests that check the installed wheel itself do not apply to a staged source tree.
    deselect = "not abi_mismatch and not installed_wheel and not needs_no_pycparser"
    only = files or PY_MUTANTS_DEFAULT
    (work / "pyproject.toml").write_text(
        "[tool.mutmut]\n"
        'paths_to_mutate = ["sheaf/"]\n'
        'source_paths = ["sheaf/"]\n'
        + ("" if only == ["sheaf/"] else f"only_mutate = {json.dumps(only)}\n")
        + 'tests_dir = ["tests/portable/"]\n'
        + "pytest_add_cli_args = "
        + json.dumps(["-p", "no:cacheprovider", "-q", "-x", "-k", deselect])
        + "\n"
    )
    step(f"mutmut {MUTMUT_VERSION}: " + " ".join(only))
    env = dict(os.environ, SHEAF_HYPOTHESIS_PROFILE="local")
    env.setdefault("SHEAF_C_TOOLS_DIR", str(BUILD / "c" / "tools"))
    cores = str(os.cpu_count() or 1)
    subprocess.run(
        [str(python), "-m", "mutmut", "run", "--max-children", cores],
        cwd=str(work),
        env=env,
        check=False,
    )
    results = subprocess.run(
        [str(python), "-m", "mutmut", "results", "--all", "true"],
        cwd=str(work),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    counts: Dict[str, int] = {}
    for line in results.splitlines():
        if ": " in line:
            status = line.rsplit(": ", 1)[1].strip()
            counts[status] = counts.get(status, 0) + 1
    for status, n in sorted(counts.items()):
        print(f"{status}: {n}")
    print(f"survivors: cd {work} && {python} -m mutmut results; ... mutmut show NAME")


def cmd_bench(quick: bool) -> None:
    """Sheaf against ArcticDB, Parquet/Arrow IPC, py-lmdb, sqlite3 and dict (bench/run.py)."""
    wheel = cmd_wheel()
    apt_install(["gcc"])  # py-lmdb builds its cffi binding from source on PyPy
    bench = ROOT / "bench"
    py311 = find_cpython(FULL_CPYTHON)
    if py311 is None:
        raise SystemExit(f"CPython {FULL_CPYTHON} is required for the benchmarks")
    step("benchmark environments")
    sheaf_python = venv_python(
        f"cpython{FULL_CPYTHON}-bench", py311, REQUIREMENTS_FULL, bench / "requirements-sheaf.txt"
    )
    install_wheel(sheaf_python, wheel)
    arcticdb_python = venv_python(
        f"cpython{FULL_CPYTHON}-arcticdb", py311, bench / "requirements-arcticdb.txt"
    )
    args = ["--arcticdb-python", str(arcticdb_python)]
    pypy = find_pypy()
    if pypy is None:
        print(
            "skipped: PyPy is not installed, so the PyPy key-value and call-overhead "
            "figures are left out"
        )
    else:
        args += [
            "--pypy-python",
            str(venv_python("pypy3-bench", pypy, bench / "requirements-pypy.txt")),
        ]
    step("running the benchmarks" + (" (quick)" if quick else ""))
    run(
        [
            sheaf_python,
            bench / "run.py",
            *args,
            "--wheel",
            wheel,
            "--workdir",
            BUILD / "bench",
            *(["--quick"] if quick else []),
            "--report",
            # A quick run is a smoke test (one round each): it must not replace the report.
            BUILD / "bench" / "BENCHMARKS-quick.md" if quick else ROOT / "BENCHMARKS.md",
        ]
    )


def compile_examples() -> Dict[str, Path]:
    out = BUILD / "examples"
    out.mkdir(parents=True, exist_ok=True)
    binaries = {}
    for source in sorted((ROOT / "examples" / "c").glob("*.c")):
        binary = out / source.stem
        run(
            [
                "gcc",
                "-std=c99",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-O2",
                "-D_POSIX_C_SOURCE=200809L",
                "-I",
                ROOT / "include",
                source,
                "-o",
                binary,
                "-L",
                TARGET,
                "-lsheaf",
                f"-Wl,-rpath,{TARGET}",
            ]
        )
        binaries[source.stem] = binary
    return binaries


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "command", choices=["demo", "test", "build", "header", "wheel", "bench", "mutants"]
    )
    parser.add_argument(
        "--quick", action="store_true", help="bench: the short run (under three minutes)"
    )
    parser.add_argument(
        "--file",
        action="append",
        default=[],
        help="mutants: a Rust file to mutate (repeatable; default: the commit path); with "
        "--python a package file such as sheaf/errors.py, or sheaf/ for all",
    )
    parser.add_argument(
        "--python",
        action="store_true",
        help="mutants: mutmut over the Python package instead of cargo-mutants over Rust",
    )
    parser.add_argument(
        "--in-diff", metavar="REF", help="mutants: mutate only the lines changed since REF"
    )
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    if args.command == "mutants":
        cmd_mutants(args.file, args.in_diff, args.python)
        return
    if args.command == "bench":
        cmd_bench(args.quick)
        return
    {
        "demo": cmd_demo,
        "test": cmd_test,
        "build": cmd_build,
        "header": cmd_header,
        "wheel": cmd_wheel,
    }[args.command]()


if __name__ == "__main__":
    main()
