"""NUT protocol pieces that need no upsd: line splitting and status mapping.

The client against the real upsd is in tests/hil/test_power_nut.py.
"""

from __future__ import annotations

import pytest

from kiosk.devices import create_device
from kiosk.errors import DeviceProtocolError
from kiosk.power import PowerStatus
from kiosk.power.nut import NutUps, status_from_vars
from kiosk.power.nut_client import split_line


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
