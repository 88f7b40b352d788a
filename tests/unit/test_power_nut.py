"""NUT protocol pieces that need no upsd: line splitting, status mapping, upsd's ERR codes.

The client against the real upsd is in tests/hil/test_power_nut.py.
"""

from __future__ import annotations

import socket
import threading

import pytest

from kiosk.devices import create_device
from kiosk.errors import DeviceError, DeviceNotFound, DeviceProtocolError, DeviceTimeout
from kiosk.power import PowerStatus
from kiosk.power.nut import NutUps, status_from_vars
from kiosk.power.nut_client import (
    NutClient,
    NutDataStale,
    NutDriverDown,
    UnknownUps,
    split_line,
)


@pytest.mark.parametrize(("line", "words"), [
    ('VAR ups ups.status "OB LB"', ["VAR", "ups", "ups.status", "OB LB"]),
    ('VAR su700 ups.mfr "APC"', ["VAR", "su700", "ups.mfr", "APC"]),
    (r'VAR ups ups.id "say \"hi\" \\ bye"', ["VAR", "ups", "ups.id", 'say "hi" \\ bye']),
    ('VAR ups x ""', ["VAR", "ups", "x", ""]),
    ("ERR UNKNOWN-UPS", ["ERR", "UNKNOWN-UPS"]),
    ("BEGIN LIST VAR ups", ["BEGIN", "LIST", "VAR", "ups"]),
    ("", []),
])
def test_nut_split_line(line, words):
    assert split_line(line) == words


def test_nut_split_line_rejects_unterminated_quote():
    with pytest.raises(DeviceProtocolError):
        split_line('VAR ups ups.status "OL')


@pytest.mark.parametrize(("variables", "want"), [
    ({"ups.status": "OL", "battery.charge": "100", "battery.runtime": "3600"},
     PowerStatus("mains", 100.0, 3600.0, False, status="OL")),
    ({"ups.status": "OL CHRG", "battery.charge": "40"},
     PowerStatus("mains", 40.0, None, False, status="OL CHRG")),
    ({"ups.status": "OB DISCHRG", "battery.charge": "55.5", "battery.runtime": "900",
      "battery.voltage": "12.1"},
     PowerStatus("battery", 55.5, 900.0, False, status="OB DISCHRG", battery_voltage=12.1)),
    ({"ups.status": "OB LB", "battery.charge": "8"},
     PowerStatus("battery", 8.0, None, True, status="OB LB")),
    ({"ups.status": "FSD OB LB"},
     PowerStatus("battery", None, None, True, forced_shutdown=True, status="FSD OB LB")),
    ({"ups.status": "FSD OL"},
     PowerStatus("mains", None, None, False, forced_shutdown=True, status="FSD OL")),
    ({"ups.status": "WAIT"}, PowerStatus("unknown", None, None, False, status="WAIT")),
    ({}, PowerStatus("unknown", None, None, False)),
    ({"ups.status": "OB", "battery.charge": "104", "battery.runtime": "-1"},
     PowerStatus("battery", 100.0, None, False, status="OB")),
    ({"ups.status": "OL", "battery.charge": "n/a"},
     PowerStatus("mains", None, None, False, status="OL")),
])
def test_nut_status_from_vars(variables, want):
    assert status_from_vars(variables) == want


def test_nut_backend_is_registered_with_config_options():
    ups = create_device("power", {"type": "nut", "host": "10.0.0.5", "port": 3494,
                                  "ups": "apc-1", "timeout": 1.5})
    assert isinstance(ups, NutUps)
    assert ups.where == "apc-1@10.0.0.5:3494"


@pytest.mark.parametrize(("code", "error", "kind"), [
    ("UNKNOWN-UPS", UnknownUps, DeviceNotFound),
    ("DRIVER-NOT-CONNECTED", NutDriverDown, DeviceNotFound),
    ("DATA-STALE", NutDataStale, DeviceTimeout),
])
def test_nut_err_codes_raise_their_own_type_of_the_same_kind(code: str, error: type[DeviceError],
                                                            kind: type[DeviceError]) -> None:
    """upsd's ERR code becomes a type (what kiosk doctor's fix follows), still the not-found
    or timeout it always was (what the kiosk's retries follow)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def serve() -> None:
            conn, _ = listener.accept()
            with conn, conn.makefile("rwb") as lines:
                while line := lines.readline():  # GET VAR answered with the error
                    if line.startswith(b"LOGOUT"):
                        return
                    if line.startswith(b"LIST UPS"):  # UNKNOWN-UPS: which does upsd know?
                        lines.write(b'BEGIN LIST UPS\nUPS other "x"\nEND LIST UPS\n')
                    else:
                        lines.write(f"ERR {code}\n".encode())
                    lines.flush()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        client = NutClient("127.0.0.1", listener.getsockname()[1], timeout=2.0)
        client.connect()
        try:
            with pytest.raises(error) as caught:
                client.get_var("ups", "ups.status")
        finally:
            client.close()
        thread.join(timeout=5)
    assert isinstance(caught.value, kind)
    assert caught.value.temporary is kind.temporary
