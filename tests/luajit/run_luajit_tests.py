#!/usr/bin/env python3
"""Runs Sheaf's LuaJIT FFI test (tests/luajit/test_sheaf.lua) against libsheaf.so.

Used by the project's build.py (``run_all(repo, lib_dir)``) and as a script::

    python3 tests/luajit/run_luajit_tests.py \
        [--lib-dir target/x86_64-unknown-linux-gnu/release] [--valgrind]

The Lua program declares the C ABI to LuaJIT with ``ffi.cdef`` from text this runner derives
from ``include/sheaf.h`` (:func:`header_to_cdef`), so the test drives exactly the declarations
the header ships: comments are dropped, the preprocessor is evaluated (``#ifdef __cplusplus``
blocks — the ``extern "C"`` guards — and ``#if defined(SHEAF_TEST_BUILD)`` blocks are left out,
``#include`` lines removed), and each integer ``#define`` becomes ``static const int`` (or
``uint32_t``), the only constant declarations LuaJIT's C parser takes. A constant wider than 32
bits (``SHEAF_SIZE_NOT_FOUND``) cannot be declared to LuaJIT; it is passed as a comment line
``//@const64 NAME VALUE`` that the cdef parser skips and the Lua program reads. The result is
written to ``build/luajit/sheaf_cdef.h`` (git-ignored) and the program runs as::

    luajit tests/luajit/test_sheaf.lua <cdef file> <libsheaf.so> <temporary directory>

It prints TAP (``ok N - …`` / ``not ok N - …`` and a ``1..N`` plan), which is echoed here. The
run fails when the program exits non-zero, prints a ``not ok`` line, or does not print as many
results as its plan announces. With ``--valgrind`` (``run_all(..., valgrind=True)``) the program
runs under ``valgrind --leak-check=full`` (zero errors and zero definite leaks required; the
library allocates through malloc then, ``SHEAF_SYSTEM_ALLOCATOR=1``, so valgrind sees its
allocations too).

Closes with ``LuaJIT tests: N passed, M failed (T s)`` and a second line in pytest's summary
form, ``N passed, M failed in T s (LuaJIT)``, which build.py's ``Totals.add`` counts. Raises
``SystemExit`` (status 1) on failure; ``luajit`` must be installed (``apt-get install -y
luajit``).

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
from typing import Dict, List, Optional, Sequence, Set, Tuple

RUN_TIMEOUT_S = 600

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "c"))
# The C tests' valgrind flags: definite leaks fail, the library's process-wide state does not.
from run_c_tests import VALGRIND  # noqa: E402

# Marks a constant LuaJIT cannot declare (wider than 32 bits); test_sheaf.lua reads these lines.
CONST64_MARK = "//@const64"

_TAP_LINE = re.compile(r"^(not ok|ok)\s+(\d+)\b")
_TAP_PLAN = re.compile(r"^1\.\.(\d+)\s*$")
_INT_LITERAL = re.compile(r"^(0[xX][0-9A-Fa-f]+|\d+)([uUlL]*)$")


class CdefError(ValueError):
    """The header holds something :func:`header_to_cdef` cannot translate."""


# ---- header -> ffi.cdef text -------------------------------------------------------------


def strip_comments(text: str) -> str:
    """``text`` without C and C++ comments (each replaced by a space; newlines kept), string
    and character literals left intact."""
    out: List[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            out.append(" ")
        elif c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise CdefError("unterminated /* comment")
            out.append(" " + "\n" * text.count("\n", i, end))
            i = end + 2
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _eval_condition(expr: str, defined: Set[str]) -> bool:
    """The value of an ``#if`` expression made of ``defined(X)`` / ``defined X``, ``!``, ``&&``,
    ``||``, parentheses and integer literals (all that sheaf.h uses)."""

    def replace_defined(m: re.Match[str]) -> str:
        return " True " if m.group(1) in defined else " False "

    py = re.sub(r"\bdefined\s*\(\s*(\w+)\s*\)", replace_defined, expr)
    py = re.sub(r"\bdefined\s+(\w+)", replace_defined, py)
    py = py.replace("&&", " and ").replace("||", " or ")
    py = re.sub(r"!(?!=)", " not ", py)
    tokens = re.findall(r"\w+|\S", py)
    allowed = {"True", "False", "and", "or", "not", "(", ")"}
    if any(t not in allowed and not t.isdigit() for t in tokens):
        raise CdefError(f"cannot evaluate #if {expr.strip()}")
    return bool(eval(" ".join(tokens), {"__builtins__": {}}, {}))


def _constant(name: str, value: str) -> Optional[str]:
    """The cdef declaration of ``#define name value`` for an integer literal: ``static const
    int``/``uint32_t`` when it fits 32 bits, else a ``//@const64`` line; None when ``value`` is
    not an integer literal (the macro is only recorded as defined)."""
    m = _INT_LITERAL.match(value.strip())
    if not m:
        return None
    number = int(m.group(1), 0)
    if number < 2**31:
        return f"static const int {name} = {number};"
    if number < 2**32:
        return f"static const uint32_t {name} = {number}u;"
    if number < 2**64:
        return f"{CONST64_MARK} {name} {number}ULL"
    raise CdefError(f"#define {name} {value}: wider than 64 bits")


def header_to_cdef(header: str, defined: Sequence[str] = ()) -> str:
    """The declarations of ``header`` (sheaf.h) in a form LuaJIT's ``ffi.cdef`` accepts.

    ``defined`` names macros to treat as defined (e.g. ``SHEAF_TEST_BUILD`` to keep the
    test-build-only declarations); ``__cplusplus`` never is, which drops the ``extern "C"``
    guards. Raises :class:`CdefError` on a directive it does not know."""
    macros: Set[str] = set(defined)
    code = strip_comments(header)
    # Directive continuation lines (backslash-newline) are joined first.
    code = re.sub(r"\\\n", " ", code)
    out: List[str] = []
    # Each entry: (this branch is active, some branch of the group was taken, parent active).
    stack: List[Tuple[bool, bool, bool]] = []
    active = True
    for line in code.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            if active and stripped:
                out.append(line.rstrip())
            continue
        directive = stripped[1:].strip()
        word, _, rest = directive.partition(" ")
        word = word.strip()
        rest = rest.strip()
        if word in ("if", "ifdef", "ifndef"):
            if word == "ifdef":
                cond = rest.split()[0] in macros
            elif word == "ifndef":
                cond = rest.split()[0] not in macros
            else:
                cond = _eval_condition(rest, macros)
            stack.append((active and cond, cond, active))
            active = active and cond
        elif word == "elif":
            if not stack:
                raise CdefError("#elif without #if")
            _, taken, parent = stack.pop()
            cond = not taken and _eval_condition(rest, macros)
            stack.append((parent and cond, taken or cond, parent))
            active = parent and cond
        elif word == "else":
            if not stack:
                raise CdefError("#else without #if")
            _, taken, parent = stack.pop()
            stack.append((parent and not taken, True, parent))
            active = parent and not taken
        elif word == "endif":
            if not stack:
                raise CdefError("#endif without #if")
            _, _, parent = stack.pop()
            active = parent
        elif not active:
            continue
        elif word == "define":
            name, _, value = rest.partition(" ")
            if "(" in name:
                raise CdefError(f"function-like macro {name} cannot be declared to LuaJIT")
            macros.add(name)
            declaration = _constant(name, value)
            if declaration is not None:
                out.append(declaration)
        elif word == "undef":
            macros.discard(rest.split()[0])
        elif word in ("include", "pragma"):
            continue
        elif word == "error":
            raise CdefError(f"#error {rest}")
        else:
            raise CdefError(f"unknown directive #{word}")
    if stack:
        raise CdefError("#if without #endif")
    return "\n".join(out) + "\n"


# ---- running -----------------------------------------------------------------------------


def find_luajit() -> str:
    """The path of ``luajit``; installs the Debian package when running as root without it."""
    found = shutil.which("luajit")
    if found:
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing luajit with apt-get", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", "luajit"],
            check=True,
            env=env,
        )
        found = shutil.which("luajit")
        if found:
            return found
    raise SystemExit("luajit is not installed: `apt-get install -y luajit`, then run again")


def parse_tap(output: str) -> Tuple[int, int, Optional[int]]:
    """(passed, failed, planned) from TAP output; planned is None without a ``1..N`` line."""
    passed = failed = 0
    planned: Optional[int] = None
    for line in output.splitlines():
        m = _TAP_LINE.match(line)
        if m:
            if m.group(1) == "ok":
                passed += 1
            else:
                failed += 1
            continue
        plan = _TAP_PLAN.match(line)
        if plan:
            planned = int(plan.group(1))
    return passed, failed, planned


def run_all(root: Path, lib_dir: Path, valgrind: bool = False) -> None:
    """Runs test_sheaf.lua against ``lib_dir/libsheaf.so``; raises SystemExit on any failure."""
    started = time.monotonic()
    root = Path(root).resolve()
    lib = Path(lib_dir).resolve() / "libsheaf.so"
    if not lib.is_file():
        raise SystemExit(f"{lib} does not exist: build the library first")
    luajit = find_luajit()
    if valgrind and shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: `apt-get install -y valgrind`")
    build_dir = root / "build" / "luajit"
    build_dir.mkdir(parents=True, exist_ok=True)
    cdef_path = build_dir / "sheaf_cdef.h"
    header = (root / "include" / "sheaf.h").read_text(encoding="utf-8")
    cdef_path.write_text(header_to_cdef(header), encoding="utf-8")
    script = root / "tests" / "luajit" / "test_sheaf.lua"
    mode = "valgrind" if valgrind else "plain"
    print(f"LuaJIT tests: {luajit} ({mode}), library {lib}, cdef {cdef_path}", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="sheaf-luajit-"))
    env: Dict[str, str] = dict(os.environ, RUST_BACKTRACE="0")
    if valgrind:
        env["SHEAF_SYSTEM_ALLOCATOR"] = "1"
    cmd = [luajit, str(script), str(cdef_path), str(lib), str(tmp)]
    if valgrind:
        cmd = [*VALGRIND, *cmd]
    problems: List[str] = []
    try:
        proc = subprocess.run(
            cmd,
            check=False,
            cwd=str(root),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=RUN_TIMEOUT_S,
        )
        output = proc.stdout.decode("utf-8", errors="replace")
        if proc.returncode != 0:
            problems.append(f"exit status {proc.returncode}")
    except subprocess.TimeoutExpired as e:
        output = (e.stdout or b"").decode("utf-8", errors="replace")
        problems.append(f"timed out after {RUN_TIMEOUT_S}s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    (build_dir / f"test_sheaf.{mode}.log").write_text(
        "$ " + " ".join(cmd) + "\n" + output, encoding="utf-8"
    )
    for line in output.rstrip("\n").splitlines():
        print(f"  {line}")
    passed, failed, planned = parse_tap(output)
    if planned is None:
        problems.append("no TAP plan line (1..N): the program stopped early")
    elif passed + failed != planned:
        problems.append(f"planned {planned} checks, reported {passed + failed}")
    if failed:
        problems.append(f"{failed} check(s) not ok")
    if problems and not failed:
        failed = 1  # the run itself failed: count it so the totals show it
    seconds = time.monotonic() - started
    print(f"LuaJIT tests: {passed} passed, {failed} failed ({seconds:.1f}s)", flush=True)
    # The form build.py's Totals.add counts (pytest's summary line).
    print(f"{passed} passed, {failed} failed in {seconds:.2f}s (LuaJIT {mode})", flush=True)
    if problems:
        raise SystemExit(f"LuaJIT tests failed ({mode}): " + "; ".join(problems))


def main(argv: Optional[Sequence[str]] = None) -> int:
    repo = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--lib-dir",
        type=Path,
        default=repo / "target" / "x86_64-unknown-linux-gnu" / "release",
        help="directory holding libsheaf.so (default: target/x86_64-unknown-linux-gnu/release)",
    )
    parser.add_argument(
        "--valgrind", action="store_true", help="run under valgrind --leak-check=full"
    )
    parser.add_argument(
        "--print-cdef", action="store_true", help="print the ffi.cdef text and exit"
    )
    args = parser.parse_args(argv)
    if args.print_cdef:
        sys.stdout.write(header_to_cdef((repo / "include" / "sheaf.h").read_text("utf-8")))
        return 0
    try:
        run_all(repo, args.lib_dir, valgrind=args.valgrind)
    except SystemExit as e:
        if e.code not in (None, 0):
            print(f"error: {e.code}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
