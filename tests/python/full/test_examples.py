"""The Python examples run as written (each checks its own results against pandas)."""

import pathlib
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "examples" / "python"


def run_example(name: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_queries_example_runs() -> None:
    assert "notional" in run_example("queries.py")


def test_sql_example_runs() -> None:
    assert "sql example: ok" in run_example("sql.py")
