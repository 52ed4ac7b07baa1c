"""Proves by construction that library calls release the GIL and run side by side.

The test build of the library has a pause point at its storage seam (``sheaf_debug_pause_*``,
from the ``failpoints`` cargo feature). :func:`check_runs_alongside` arms a storage step, starts
``first`` on a thread and waits until that call is stopped *inside the library*. While it is
stopped, this thread runs Python code and ``second`` on another thread. If the stopped call held
the GIL, this thread could not run at all until the call gave up waiting (after 60 s); if one
lock serialised library calls, ``second`` could not finish. Either way the check fails — on an
idle machine and a loaded one alike, because nothing here is timed: the waits are only upper
bounds that keep a broken build from hanging the suite.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict

from sheaf._lib import check, errslot, ffi, lib

#: Upper bound for each wait; never reached by a correct build.
BOUND_S = 30.0


def _arm(step: str) -> None:
    raw = step.encode()
    check(lib.sheaf_debug_pause_arm(ffi.from_buffer(raw), len(raw), errslot()), errslot())


def _still_stopped(timeout_s: float) -> bool:
    return lib.sheaf_debug_pause_wait(int(timeout_s * 1000), ffi.NULL) == 0  # type: ignore[no-any-return]


def _release() -> None:
    check(lib.sheaf_debug_pause_release(errslot()), errslot())


def check_runs_alongside(step: str, first: Callable[[], Any], second: Callable[[], Any]) -> Any:
    """Runs ``first`` stopped at storage step ``step`` while ``second`` runs; returns what
    ``first`` returned (so the caller can check it against the data written)."""
    outcome: Dict[str, Any] = {}

    def run_first() -> None:
        try:
            outcome["first"] = first()
        except BaseException as exc:  # reported below, on the test's thread
            outcome["first_error"] = exc

    _arm(step)
    party = threading.Thread(target=run_first, daemon=True)
    party.start()
    try:
        assert _still_stopped(BOUND_S), (
            f"the first call never stopped at {step!r} inside the library, or this thread only "
            f"ran after it gave up waiting (the call held the GIL): {outcome}"
        )
        # Python code runs while the first call is inside the library...
        assert sum(range(1000)) == 499500
        # ...and so does a second library call, on another thread.
        second_outcome: Dict[str, Any] = {}

        def run_second() -> None:
            try:
                second_outcome["value"] = second()
            except BaseException as exc:
                second_outcome["error"] = exc

        other = threading.Thread(target=run_second, daemon=True)
        other.start()
        other.join(BOUND_S)
        assert not other.is_alive(), "the second call waited for the first: calls are serialised"
        if "error" in second_outcome:
            raise second_outcome["error"]
        assert _still_stopped(0.0), "the first call was not inside the library the whole time"
        assert party.is_alive() and not outcome, outcome
    finally:
        _release()
    party.join(BOUND_S)
    assert not party.is_alive(), "the first call did not finish after its release"
    if "first_error" in outcome:
        raise outcome["first_error"]
    return outcome.get("first")
