"""The consent for the next citizen opens at its top (``app_consent.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.drivers import run_driver


@pytest.mark.gui
def test_the_next_citizens_consent_opens_at_its_top(tmp_path: Path, xdisplay: str) -> None:
    """The first citizen scrolled the consent to its end and said No: the next citizen's
    consent opened there, the "what we record" paragraph out of view and the "scroll down"
    hint gone. Every wipe now scrolls every screen back to its top."""
    report = run_driver("app_consent", tmp_path, xdisplay, panel_mm=True)
    first, second = report["citizens"]
    assert first["opened"] == {"scroll_y": 1.0, "hint": True}
    assert first["scrolled"]["scroll_y"] < 0.5 and not first["scrolled"]["hint"], first
    assert second["opened"] == {"scroll_y": 1.0, "hint": True}, second
