"""Cost of one trivial call through the sheaf package, on the interpreter running this
(CPython or PyPy): ``python overhead_worker.py '<json spec>'``.

Calls (each timed in a loop of ``loops`` calls, median of ``reps`` loops, after a warm-up that
lets PyPy's JIT compile the loop):
- ``noop``: a Python function that returns None (the loop and call floor, for reference);
- ``library_version``: ``sheaf.library_version()`` (returns a string read once at import: no
  call into the library);
- ``abi_version``: ``sheaf._lib.lib.sheaf_abi_version()``, the package's cffi handle: one real
  crossing of the C ABI with no arguments (the floor of every library call);
- ``has_symbol``: ``Library.has_symbol("absent")`` on a ``mem://`` store (a real library
  operation: name encoding, error slot, a lookup under the library's lock);
- ``kv_exists``: ``KeySpace.exists(b"key")`` on a ``mem://`` store.
"""

from __future__ import annotations

import os
import statistics
import sys
from typing import Any, Callable, Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import emit, perf_counter, spec_from_argv


def per_call(fn: Callable[[], Any], loops: int, reps: int, warmup: int) -> List[float]:
    out: List[float] = []
    for r in range(warmup + reps):
        t0 = perf_counter()
        for _ in range(loops):
            fn()
        dt = (perf_counter() - t0) / loops
        if r >= warmup:
            out.append(dt)
    return out


def main() -> None:
    spec = spec_from_argv()
    loops: int = spec.get("loops", 200_000)
    reps: int = spec.get("reps", 7)
    pypy = sys.implementation.name == "pypy"
    warmup: int = spec.get("warmup", 5 if pypy else 1)

    import sheaf
    from sheaf._lib import lib as native

    store = sheaf.open("mem://bench-overhead")
    library = store.get_library("lib", create_if_missing=True)
    kv = store.kv("kv")
    kv.put(b"key", b"value")

    def noop() -> None:
        return None

    calls: Dict[str, Callable[[], Any]] = {
        "noop": noop,
        "library_version": sheaf.library_version,
        "abi_version": native.sheaf_abi_version,
        "has_symbol": lambda: library.has_symbol("absent"),
        "kv_exists": lambda: kv.exists(b"key"),
    }
    times: Dict[str, List[float]] = {}
    for name, fn in calls.items():
        times[name] = per_call(fn, loops, reps, warmup)
    emit(
        {
            "implementation": sys.implementation.name,
            "python": sys.version.split()[0],
            "version": sys.version.replace("\n", " "),
            "sheaf": sheaf.__version__,
            "times": times,
            "median_ns": {k: statistics.median(v) * 1e9 for k, v in times.items()},
        }
    )


if __name__ == "__main__":
    main()
