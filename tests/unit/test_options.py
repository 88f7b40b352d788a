"""The one checker (kiosk/options.py): types, ranges, choices, secrets, optional options."""

from __future__ import annotations

from typing import Any

import pytest

from kiosk.errors import ConfigError
from kiosk.options import (
    MASK,
    Boolean,
    GpioPin,
    Integer,
    List,
    Number,
    Option,
    String,
    check,
    check_values,
    strings,
)


@pytest.mark.parametrize(("option", "value", "allowed"), [
    (Integer(3, 1, 10), "3", "an integer"),
    (Integer(3, 1, 10), True, "an integer"),          # bool is an int in Python, not here
    (Integer(3, 1, 10), 2.0, "an integer"),
    (Integer(3, 1, 10), 11, "a number from 1 to 10"),
    (Number(1.0, 0, 5), False, "an integer or a number"),
    (Number(1.0, 0, 5), float("nan"), "a number from 0 to 5"),
    (Number(1.0, above=0), 0, "a number above 0"),
    # limits as a maintainer would type them, not 1.09951e+12
    (Integer(0, 0, 1 << 40), 1 << 41, "a number from 0 to 1099511627776"),
    (Number(0.5, 0.25, 7_776_000), 0.1, "a number from 0.25 to 7776000"),
    (Boolean(True), 1, "true or false"),
    (String("a", choices=("a", "b")), "c", "one of 'a', 'b'"),
    (String("a1", pattern=r"[a-z][0-9]"), "a1\n", "text matching"),  # the whole text
    (Integer(0, choices=(0, 32)), 33, "one of 0, 32"),
    (GpioPin(17), 28, "a BCM GPIO number 0-27"),
    (List(["x"], strings, allowed="a non-empty list of non-empty strings"), [""],
     "a non-empty list of non-empty strings"),
])
def test_check_refuses_naming_the_key_and_what_is_allowed(option: Option, value: Any,
                                                          allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        check("s.k", option, value)
    assert info.value.key == "s.k"
    assert allowed in info.value.allowed


@pytest.mark.parametrize(("option", "value"), [
    (Integer(3, 1, 10), 10), (Number(1.0, 0, 5), 5), (Number(1.0, 0, 5), 2.5),
    (Boolean(True), False), (String("a", choices=("a", "b")), "b"), (GpioPin(None), None),
    (GpioPin(17), 0), (Option((bool, str), "auto"), True),
])
def test_check_accepts(option: Option, value: Any) -> None:
    check("s.k", option, value)


def test_a_secret_is_masked_when_its_value_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        check("s.pin", String("1234", pattern="[0-9]{4}", secret=True), "12345")
    assert info.value.value == MASK
    assert "12345" not in str(info.value)


def test_types_and_values_can_be_checked_apart() -> None:
    option = Integer(3, 1, 10)
    check("s.k", option, 11, values=False)          # the type only: loading a backend's
    check("s.k", option, "x", types=False, values=False)
    with pytest.raises(ConfigError):
        check("s.k", option, 11, types=False)       # the value only: its constructor


def test_check_values_names_the_section_and_skips_the_undeclared() -> None:
    options = {"a": Integer(1, 0, 5), "b": Boolean(False)}
    check_values("hardware.x", options, {"a": 1, "zzz": object()})
    with pytest.raises(ConfigError) as info:
        check_values("hardware.x", options, {"self": object(), "a": 9})
    assert info.value.key == "hardware.x.a"
