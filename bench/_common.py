"""Helpers shared by the benchmark workers (CPython 3.11 venvs and PyPy 3.9; standard library only).

A worker is started as ``python bench/<worker>.py '<json spec>'``; it prints its result as one
line ``RESULT {json}`` on stdout (anything else it prints is ignored by run.py).

Memory: the peak of a step is the kernel's resident-set high-water mark of the worker process
(``VmHWM`` in /proc/self/status, the value ``getrusage().ru_maxrss`` reports), reset through
``/proc/self/clear_refs`` just before the step, so it covers the step alone; it is reported as
the increase over the resident set at the start of the step (interpreter, imports and input data
excluded).
"""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import sys
import time
from typing import Any, Callable, Dict, List, Optional

perf_counter = time.perf_counter


def spec_from_argv() -> Dict[str, Any]:
    if len(sys.argv) != 2:
        raise SystemExit(f"usage: {sys.argv[0]} '<json spec>'")
    spec: Dict[str, Any] = json.loads(sys.argv[1])
    return spec


def emit(result: Dict[str, Any]) -> None:
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


def _status_kib(field: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(field + r":\s+(\d+) kB", text)
    return int(m.group(1)) if m else None


def rss_bytes() -> Optional[int]:
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def hwm_bytes() -> Optional[int]:
    kib = _status_kib("VmHWM")
    return None if kib is None else kib * 1024


def file_rss_bytes() -> Optional[int]:
    """Resident pages backed by files (for an LMDB store: its mapped pages, page cache)."""
    kib = _status_kib("RssFile")
    return None if kib is None else kib * 1024


def reset_hwm() -> bool:
    """Resets the process's peak RSS to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure(
    step: Callable[[int], Any],
    reps: int,
    warmup: int = 1,
    before: Optional[Callable[[int], Any]] = None,
) -> Dict[str, Any]:
    """Runs ``step(0)``, ``step(1)``, ... and returns the timed repetitions and the peak memory.

    The first run is the memory run: the peak RSS is reset just before it and read just after
    it, so it is the first execution of the step in a fresh process (imports done), before the
    allocator holds freed memory of earlier runs. With ``warmup=1`` it is then a warm-up (not in
    ``times``) and ``reps`` more runs are timed; with ``warmup=0`` it counts as the first of the
    ``reps`` timed runs (for steps too slow to repeat).

    ``before(i)`` (untimed) prepares run ``i``. The value ``step`` returns is dropped after the
    clock stops, so freeing a result is not timed.
    """
    times: List[float] = []
    result: Dict[str, Any] = {}
    total = reps + (1 if warmup else 0)
    for i in range(total):
        if before is not None:
            before(i)
        gc.collect()
        if i == 0:
            reset_ok = reset_hwm()
            base = rss_bytes()
            file_base = file_rss_bytes()
        gc.disable()
        t0 = perf_counter()
        out = step(i)
        dt = perf_counter() - t0
        gc.enable()
        if i == 0:
            peak = hwm_bytes()
            if reset_ok and base is not None and peak is not None:
                result["peak_delta"] = max(0, peak - base)
                result["rss_base"] = base
                file_now = file_rss_bytes()
                if file_base is not None and file_now is not None:
                    # Mapped store pages the step touched (they stay mapped): shared page
                    # cache the kernel can drop, not memory the step allocated.
                    result["file_delta"] = max(0, file_now - file_base)
            result["first"] = dt
        del out
        if i > 0 or not warmup:
            times.append(dt)
    result["times"] = times
    return result


def dir_size(path: str) -> Dict[str, int]:
    """Bytes allocated on disk (st_blocks * 512, as du counts) and apparent bytes (st_size)."""
    allocated = apparent = 0
    if os.path.isfile(path):
        st = os.stat(path)
        return {"allocated": st.st_blocks * 512, "apparent": st.st_size}
    for root, _dirs, files in os.walk(path):
        for name in files:
            st = os.stat(os.path.join(root, name))
            allocated += st.st_blocks * 512
            apparent += st.st_size
    return {"allocated": allocated, "apparent": apparent}


def fresh_dir(path: str) -> str:
    if os.path.exists(path):
        shutil.rmtree(path)
    os.makedirs(path)
    return path


def remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.unlink(path)
