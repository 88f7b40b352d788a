"""What every `kiosk` verb shares, as a maintainer meets it over SSH (in subprocesses): no
traceback, one line naming what is wrong, an exit status README lists."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import KIOSK, kiosk_env


@pytest.mark.parametrize("args", [("queue", "list", "--json"), ("status", "--json"),
                                  ("config", "show"), ("doctor", "--json")])
def test_output_to_a_reader_that_went_away_is_no_traceback(kiosk_config: Path,
                                                           args: tuple[str, ...]) -> None:
    """`kiosk ... | head -1`: head exits after its line; the kiosk stops quietly."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write
    try:
        result = subprocess.run([*KIOSK, *args], env=kiosk_env(kiosk_config),
                                stdout=write_end, stderr=subprocess.PIPE, text=True,
                                timeout=120)
    finally:
        os.close(write_end)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, \
        result.stderr[-2000:]
    assert result.returncode == 1
