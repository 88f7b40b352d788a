"""`kiosk status`, `kiosk queue list` and `kiosk queue show` as text for a person: what the
journal and the intake said is shown as said, never read as rich's markup."""

from __future__ import annotations

import io

from rich.console import Console

from kiosk.status import render_history, render_queue, render_status

REFUSAL = ("intake refused the record [wrong_key] (HTTP 403 creating the upload) "
           "[/odd] [bold]")


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=400, color_system=None), out


def test_queue_list_shows_the_intakes_refusal_code() -> None:
    console, out = _console()
    render_queue([{"id": "test-01-0000002-963b2c", "state": "rejected", "attempts": 1,
                   "last_error": REFUSAL}], console)
    assert REFUSAL in out.getvalue()


def test_queue_show_shows_the_refusal_in_the_history() -> None:
    console, out = _console()
    render_history({"id": "test-01-0000002-963b2c", "state": "rejected", "assisted": False,
                    "created_at": "2026-11-30T14:21:56.101Z", "clock_trusted": True,
                    "attempts": 1, "last_error": REFUSAL,
                    "events": [{"seq": 9, "at": "2026-11-30T14:22:00.000Z",
                                "event": "record_state", "clock_trusted": True,
                                "details": {"from_state": "sealed", "to_state": "rejected",
                                            "reason": REFUSAL}}]}, console)
    assert out.getvalue().count(REFUSAL) == 2, out.getvalue()


def test_status_shows_the_last_error_reason_and_device_detail_as_said() -> None:
    console, out = _console()
    render_status({
        "kiosk_id": "test-01", "accepting": False, "reason": "power watcher: [low] battery",
        "records": {"sealed": 1}, "upload": {"pending": 1, "last_error": REFUSAL},
        "power": {"source": "battery", "battery_percent": 20.0},
        "clock": {"trusted": True}, "disk": {"free_bytes": 2**30},
        "hardware": {"camera": {"ok": False, "detail": "v4l2 [/dev/video0] busy"}}},
        console)
    text = out.getvalue()
    assert REFUSAL in text
    assert "power watcher: [low] battery" in text
    assert "v4l2 [/dev/video0] busy" in text


def test_status_says_an_unreadable_ups_stops_nothing_and_what_to_run() -> None:
    """Power unknown (upsd down) does not stop enrollments (fail-open: README, Power); the
    status says so, with the UPS's error, instead of a bare "power: unknown"."""
    console, out = _console()
    render_status({
        "kiosk_id": "test-01", "accepting": True, "reason": None, "records": {},
        "upload": {"pending": 0, "last_error": None},
        "power": {"source": "unknown", "battery_percent": None, "runtime_s": None,
                  "error": "upsd at 127.0.0.1:3493 refused the connection"},
        "clock": {"trusted": True}, "disk": {"free_bytes": 2**30}, "hardware": {}}, console)
    text = out.getvalue()
    assert "upsd at 127.0.0.1:3493 refused the connection" in text
    assert "enrollments are not stopped" in text and "kiosk doctor" in text
