"""What only the NUT backend does, against the real upsd with the dummy-ups driver (started
from a temporary config directory): NUT status words, the client's commands, upsd or the
driver going away, silent and garbage servers. What every power backend does (the reading
at rest, on battery and back, self-test, closed, concurrent reads; and a real UPS when
KIOSK_HIL_NUT names one) is checked once, in ``tests/contract/test_power.py``.

Missing NUT daemons FAIL these tests (``make test`` installs nut-server and nut-client).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from kiosk.devices import create_device
from kiosk.errors import DeviceError, DeviceProtocolError
from kiosk.power import PowerStatus
from kiosk.power.nut import NutUps
from kiosk.power.nut_client import (
    NutClient,
    NutDataStale,
    NutDriverDown,
    UnknownUps,
    UpsdRefused,
    UpsdTimeout,
)
from tests.hil.nut_harness import REFLECT_S, NutServer, free_port, nut_or_fail, wait_read

pytestmark = pytest.mark.hil



def _server() -> NutServer:
    return nut_or_fail()


@pytest.fixture
def nut(nut_session: NutServer) -> NutServer:
    """The process's shared server (tests/conftest.py), back to its start values (on line,
    full battery)."""
    nut_session.reset()
    return nut_session


@pytest.fixture
def fresh_nut() -> Iterator[NutServer]:
    """A private server for tests that stop daemons."""
    server = _server()
    with server:
        yield server


def _ups(server: NutServer, **options: object) -> NutUps:
    device = create_device("power", {"type": "nut", "host": server.host, "port": server.port,
                                     "ups": server.ups, **options})
    assert isinstance(device, NutUps)
    return device


# -- the dummy UPS --------------------------------------------------------------------------
def test_nut_status_changes_show_within_three_seconds(nut):
    steps = [
        ("OB DISCHRG", {"battery.charge": "80", "battery.runtime": "1500"},
         {"source": "battery", "low_battery": False, "battery_percent": 80.0,
          "runtime_s": 1500.0}),
        ("OB LB", {"battery.charge": "9", "battery.runtime": "120"},
         {"source": "battery", "low_battery": True, "battery_percent": 9.0,
          "runtime_s": 120.0}),
        ("OL CHRG", {"battery.charge": "12", "battery.runtime": "200"},
         {"source": "mains", "low_battery": False, "battery_percent": 12.0}),
    ]
    with _ups(nut) as ups:
        assert ups.read().source == "mains"
        for status, extra, want in steps:
            nut.set_status(status, **extra)
            _, took = wait_read(ups, want | {"status": status})
            assert took < REFLECT_S


def test_nut_forced_shutdown_is_reported(nut):
    with _ups(nut) as ups:
        nut.set_status("FSD OB LB")
        status, _ = wait_read(ups, {"forced_shutdown": True})
    assert (status.source, status.low_battery) == ("battery", True)


def test_nut_missing_battery_figures_are_none():
    # Its own server: dummy-ups keeps a variable once set, even when the file drops it.
    server = nut_or_fail({"ups.status": "OB"})
    with server, _ups(server) as ups:
        status = ups.read()
    assert status == PowerStatus("battery", None, None, low_battery=False, status="OB")


def test_nut_unknown_ups_name_is_not_found_and_lists_known(nut):
    with _ups(nut, ups="nosuch") as ups, pytest.raises(UnknownUps) as caught:
        ups.read()
    assert "'nosuch'" in str(caught.value) and "ups.conf (ups)" in str(caught.value)


def test_nut_client_get_list_and_missing_var(nut):
    client = NutClient(nut.host, nut.port, timeout=2.0)
    client.connect()
    try:
        assert client.get_var("ups", "ups.mfr") == "Kiosk test"
        assert client.get_var("ups", "no.such.var") is None
        assert client.get_vars("ups", ["ups.status", "nope", "battery.charge"]) == {
            "ups.status": "OL", "nope": None, "battery.charge": "100"}
        assert client.list_ups() == {"ups": "kiosk test UPS"}
        listed = client.list_var("ups")
        assert listed["ups.status"] == "OL" and listed["driver.name"] == "dummy-ups"
    finally:
        client.close()
    assert not client.connected


def test_nut_unknown_ups_keeps_the_connection_usable(nut):
    client = NutClient(nut.host, nut.port, timeout=2.0)
    client.connect()
    try:
        with pytest.raises(UnknownUps):
            client.get_vars("other", ["ups.status", "battery.charge"])
        assert client.get_var("ups", "ups.status") == "OL"
    finally:
        client.close()


def test_nut_variables_lists_everything(nut):
    with _ups(nut) as ups:
        assert ups.variables()["ups.model"] == "dummy"


# -- upsd or the driver down ---------------------------------------------------------------
def test_nut_upsd_down_gives_a_clear_error_and_selftest_says_why():
    port = free_port()  # nothing listens here
    ups = NutUps(port=port)
    ups.open()  # does not fail: at boot upsd may come up after the kiosk
    try:
        with pytest.raises(UpsdRefused, match=r"refused the connection: is upsd running"):
            ups.read()
    finally:
        ups.close()
    ok, detail = ups.selftest()
    assert ok is False
    assert "UpsdRefused" in detail and f"127.0.0.1:{port}" in detail


def test_nut_upsd_stopping_restarting_and_coming_back(fresh_nut):
    with _ups(fresh_nut) as ups:
        assert ups.read().status == "OL"
        fresh_nut.stop_upsd()
        fresh_nut.start_upsd()
        assert ups.read().status == "OL"  # the kept connection died: one retry, no error
        fresh_nut.stop_upsd()
        with pytest.raises(UpsdRefused, match="refused the connection"):
            ups.read()
        assert ups.selftest()[0] is False
        fresh_nut.start_upsd()
        assert ups.read().source == "mains"  # reconnects by itself


def test_nut_driver_down_is_not_found(fresh_nut):
    with _ups(fresh_nut) as ups:
        assert ups.read().source == "mains"
        fresh_nut.stop_driver()
        deadline = time.monotonic() + 10
        while True:
            try:
                ups.read()
            except DeviceError as exc:
                assert isinstance(exc, (NutDriverDown, NutDataStale))
                assert "driver" in str(exc).lower()
                break
            assert time.monotonic() < deadline, "upsd kept serving a dead driver's data"
            time.sleep(0.1)


def test_nut_silent_server_times_out():
    """A server that accepts but never answers: read() gives up after `timeout`."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with NutUps(port=port, timeout=0.5) as ups:
            start = time.monotonic()
            with pytest.raises(UpsdTimeout, match=r"did not answer within 0\.5 s"):
                ups.read()
            assert time.monotonic() - start < 2.0


def test_nut_garbage_server_is_a_protocol_error():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def serve() -> None:
            for _ in range(2):  # read() retries once on a fresh connection
                conn, _ = listener.accept()
                with conn:
                    conn.recv(100)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        with NutUps(port=port, timeout=2.0) as ups, pytest.raises(DeviceProtocolError):
            ups.read()
        thread.join(timeout=5)
