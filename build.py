#!/usr/bin/env python3
"""The one entry point of the Sheaf repository.

    python3 build.py demo     build everything, run the C and Python quickstarts on a local store
    python3 build.py test     build everything and run every test suite (what CI runs)
    python3 build.py build    release library (target/release/libsheaf.so) and header check
    python3 build.py header   regenerate include/sheaf.h and python/sheaf/_cdef.h
    python3 build.py wheel    build the py3-none wheel into dist/
    python3 build.py bench    benchmarks against ArcticDB and others; writes BENCHMARKS.md
                              (--quick: the short run)

Every command installs what it needs: Debian packages (valgrind, g++, pypy3) when running as
root, Rust crates through cargo, Python packages into virtual environments under build/venvs/.
Only the Rust toolchain and a CPython 3.8+ to run this script are assumed.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent
TARGET = ROOT / "target" / "release"
LIBRARY = TARGET / "libsheaf.so"
BUILD = ROOT / "build"
VENVS = BUILD / "venvs"
DIST = ROOT / "dist"
# C programs the Python multi-process tests run next to Python processes (built by the C step).
C_TOOLS = BUILD / "c" / "tools"
REQUIREMENTS_FULL = ROOT / "tests" / "python" / "requirements-full.txt"
REQUIREMENTS_PORTABLE = ROOT / "tests" / "python" / "requirements-portable.txt"
DEBIAN_PACKAGES = ["valgrind", "g++", "gcc", "pypy3", "pypy3-venv"]
# CPython versions that run the portable suite; 3.11 runs the full one.
PORTABLE_CPYTHONS = ["3.8", "3.9", "3.10", "3.12", "3.13"]
FULL_CPYTHON = "3.11"


class Totals:
    """Counts test results across suites for the closing line CI reads."""

    passed = 0
    failed = 0

    @classmethod
    def add(cls, output: str) -> None:
        for m in re.finditer(r"test result: \w+\. (\d+) passed; (\d+) failed", output):
            cls.passed += int(m.group(1))
            cls.failed += int(m.group(2))
        for m in re.finditer(r"^C tests: (\d+) passed, (\d+) failed", output, re.M):
            cls.passed += int(m.group(1))
            cls.failed += int(m.group(2))
        for line in output.splitlines():
            # pytest's summary: "3 passed, 1 skipped in 0.52s" (framed by "=" without -q).
            if re.search(r"\d+ (passed|failed).* in [\d.]+s", line):
                p = re.search(r"(\d+) passed", line)
                f = re.search(r"(\d+) failed", line)
                cls.passed += int(p.group(1)) if p else 0
                cls.failed += int(f.group(1)) if f else 0


def step(title: str) -> None:
    print(f"\n==> {title}", flush=True)


def run(
    cmd: Sequence[str],
    *,
    cwd: Path = ROOT,
    env: Optional[Dict[str, str]] = None,
    capture: bool = False,
) -> str:
    """Runs a command, echoing it; raises SystemExit with its status on failure."""
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
    Totals.add(output)
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
    return run(["cargo", *args], capture=capture, env=env)


def version() -> str:
    text = (ROOT / "Cargo.toml").read_text()
    m = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M)
    if not m:
        raise SystemExit("no version in Cargo.toml")
    return m.group(1)


# ---------------------------------------------------------------- commands


def cmd_header() -> None:
    step("regenerating include/sheaf.h and python/sheaf/_cdef.h (cbindgen)")
    cargo("test", "--test", "header", env={"SHEAF_BLESS_HEADER": "1"})


def cmd_build() -> None:
    step("building the release library")
    cargo("build", "--release", "--locked")
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


def cmd_wheel() -> Path:
    cmd_build()
    step("building the wheel")
    DIST.mkdir(exist_ok=True)
    for old in DIST.glob("sheaf-*.whl"):
        old.unlink()
    run(
        [
            tooling_python(),
            ROOT / "python" / "build_wheel.py",
            "--lib",
            LIBRARY,
            "--out",
            DIST,
            "--version",
            version(),
        ]
    )
    wheels = sorted(DIST.glob("sheaf-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one wheel in {DIST}, found {len(wheels)}")
    wheel = wheels[0]
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


def pytest(python: Path, suites: List[str]) -> None:
    """Runs pytest from tests/python against the installed wheel (the package's source is not
    on that path), so each suite's conftest.py scopes its own fixtures. SHEAF_C_TOOLS_DIR
    points the cross-language concurrency tests at the C programs."""
    env = {"PYTHONDONTWRITEBYTECODE": "1", "SHEAF_C_TOOLS_DIR": str(C_TOOLS)}
    run(
        [python, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *suites],
        cwd=ROOT / "tests" / "python",
        capture=True,
        env=env,
    )


def run_c_tests() -> None:
    step("C tests (plain, ASan/UBSan, valgrind), header as C++, exported symbols vs header")
    apt_install(["valgrind", "g++"])
    sys.path.insert(0, str(ROOT / "tests" / "c"))
    import contextlib
    from io import StringIO

    import run_c_tests as c_tests  # type: ignore[import-not-found]

    buffer = StringIO()

    class Tee:
        def write(self, text: str) -> int:
            sys.__stdout__.write(text)
            buffer.write(text)
            return len(text)

        def flush(self) -> None:
            sys.__stdout__.flush()

    with contextlib.redirect_stdout(Tee()):  # type: ignore[type-var]
        c_tests.run_all(ROOT, TARGET)
    Totals.add(buffer.getvalue())


def run_python_suites(wheel: Path) -> None:
    step(f"Python: full suite on CPython {FULL_CPYTHON} (pandas, pyarrow, polars)")
    python = tooling_python()
    install_wheel(python, wheel)
    pytest(python, ["full", "portable"])
    step("Python: mypy (strict) and ruff on the package, tests, examples and build.py")
    run([python, "-m", "mypy"], cwd=ROOT / "python")
    sources = [
        ROOT / "python",
        ROOT / "tests" / "python",
        ROOT / "examples" / "python",
        ROOT / "build.py",
        ROOT / "tests" / "c" / "run_c_tests.py",
    ]
    config = ["--config", ROOT / "python" / "pyproject.toml"]
    run([python, "-m", "ruff", "check", *config, *sources])
    run([python, "-m", "ruff", "format", "--check", *config, *sources])

    interpreters: List[tuple] = [(f"cpython{v}", find_cpython(v)) for v in PORTABLE_CPYTHONS]
    interpreters.append(("pypy3", find_pypy()))
    for name, interpreter in interpreters:
        step(f"Python: portable suite on {name}")
        if interpreter is None:
            print(f"skipped: {name} is not installed on this machine")
            continue
        python = venv_python(f"{name}-portable", interpreter, REQUIREMENTS_PORTABLE)
        install_wheel(python, wheel)
        pytest(python, ["portable"])


def cmd_test() -> None:
    started = time.time()
    apt_install(["valgrind", "g++"])
    step("Rust: formatting and lints")
    cargo("fmt", "--check")
    cargo("clippy", "--all-targets", "--locked", "--", "-D", "warnings")
    step("Rust: unit and integration tests (incl. header up to date)")
    cargo("test", "--locked", capture=True)
    wheel = cmd_wheel()
    run_c_tests()
    run_python_suites(wheel)
    minutes = (time.time() - started) / 60
    print(f"\nall suites passed in {minutes:.1f} min")
    print(f"{Totals.passed} passed, {Totals.failed} failed")


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
            ROOT / "BENCHMARKS.md",
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
    parser.add_argument("command", choices=["demo", "test", "build", "header", "wheel", "bench"])
    parser.add_argument(
        "--quick", action="store_true", help="bench: the short run (under three minutes)"
    )
    args = parser.parse_args(argv)
    os.chdir(ROOT)
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
