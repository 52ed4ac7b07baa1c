"""The Python examples run as written (each checks its own results against pandas)."""

import pathlib
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "examples" / "python"


def test_queries_example_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "queries.py")],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "notional" in done.stdout


def test_sql_example_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "sql.py")],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "sql example: ok" in done.stdout
