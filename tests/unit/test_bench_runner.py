"""``benchmarks/run.py``: a maintainer's typo or ``--help`` gets words and an exit code,
not a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RUNNER), *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_help_lists_the_benchmarks() -> None:
    done = _run("--help")
    assert done.returncode == 0
    assert "journal" in done.stdout and "upload" in done.stdout
    assert "Traceback" not in done.stderr


def test_an_unknown_name_is_refused_before_anything_runs() -> None:
    done = _run("journal", "jornal")
    assert done.returncode == 2
    assert "no benchmark named jornal" in done.stderr
    assert "Traceback" not in done.stderr
    assert "| benchmark |" not in done.stdout  # nothing measured on a half-right line
