"""An Xvfb display for the GUI tests, started by the tests themselves."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.xvfb import private_display


@pytest.fixture(scope="session")
def xdisplay() -> Iterator[str]:
    """A private X display (Xvfb, 1280x800x24) for the session; DISPLAY value yielded."""
    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is not installed; `make test` installs it (package xvfb)")
    with private_display() as display:
        yield display
