"""What a test of durability needs: which files and directories were fsync'd
(:func:`record_fsyncs`), and a full disk for one child process (:func:`run_on_a_full_disk`).

The full disk is a file-size limit (RLIMIT_FSIZE): every write past ``limit`` bytes fails
with EFBIG (SIGXFSZ ignored), as a full file system fails it with ENOSPC, without filling
any disk. ``sys.dont_write_bytecode`` is set before the limit: under it the interpreter's
own .pyc writes are cut short too, and a truncated cache file in the checkout breaks every
later import of that module.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def record_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on in this test, the path of what each ``os.fsync`` is called on (as the
    kernel names the descriptor then: a file still under its temporary name shows so)."""
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def under_a_size_limit(code: str, limit: int) -> str:
    """``code`` (Python, run with ``python -c``) preceded by the file-size limit."""
    return f"""
import resource, signal, sys
sys.dont_write_bytecode = True
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
{code}"""


def run_on_a_full_disk(code: str, *args: str, limit: int, tmp_path: Path
                       ) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with ``args`` (its ``sys.argv[1:]``) under :func:`under_a_size_limit`,
    importing the checkout's modules; assert that none of them was cached as bytecode.

    The bytecode cache goes to a directory under ``tmp_path``, so a truncated .pyc would
    show there rather than break the checkout for every later process.
    """
    cache = tmp_path / "pycache"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"PYTHONPATH": str(REPO), "PYTHONPYCACHEPREFIX": str(cache)}
    done = subprocess.run([sys.executable, "-c", under_a_size_limit(code, limit), *args],
                          capture_output=True, text=True, timeout=60, check=False, env=env)
    # (the interpreter's start-up, before the limit, caches the standard library and the
    # virtualenv's start-up files there, which may be inside the checkout: .venv)
    mirror = cache / REPO.relative_to(REPO.anchor)
    assert [p for package in ("kiosk", "intake", "tests") for p in
            (mirror / package).rglob("*.pyc")] == []
    return done
