"""Config options declared once: type, default, what is allowed, and a description.

The Mopidy way (``config/types.py``: ``Integer(minimum, maximum)``, ``Boolean``,
``String(choices)``, ``Secret``) with kvmd's habit that each backend declares its own
options (``get_plugin_options()``): ``kiosk/config.py`` declares its sections with these
types, and every device backend declares ``OPTIONS`` (option name -> :class:`Option`) on its
class. :func:`check` is the one checker: loading the config, ``create_device`` and the
backends' constructors all go through it, so a rule and its message live in one place.

A bad value is a :class:`~kiosk.errors.ConfigError` naming the key, the value and what is
allowed::

    >>> port = Integer(3493, 1, 65535, description="upsd's TCP port")
    >>> check("power.port", port, 70000)
    Traceback (most recent call last):
    kiosk.errors.ConfigError: power.port: 70000 is not allowed; expected a number from 1 to 65535

This module sits at the bottom: it imports nothing of the kiosk but :mod:`kiosk.errors`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kiosk.errors import ConfigError

#: The Python type(s) a value must have. ``(int, float)`` for numbers: TOML writes ``100``
#: as an integer.
TypeSpec = type | tuple[type, ...]

MASK = "********"

_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
               list: "a list"}


def type_name(kind: TypeSpec) -> str:
    """What a value of ``kind`` is, in words: ``"an integer or a number"``."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(dict.fromkeys(_TYPE_NAMES.get(k, k.__name__) for k in kinds))


def type_ok(value: Any, kind: TypeSpec) -> bool:
    """``value`` has the type ``kind``; ``true`` is no number and ``1`` no bool (in Python
    bool is an int)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool):
        return bool in kinds
    return isinstance(value, kinds)


@dataclass(frozen=True)
class Option:
    """One config key: its type, default, the rule a value must meet and what it is for.

    ``allowed`` says in words what ``test`` accepts (it ends the error message); a
    ``secret`` value is shown as ``********`` when it fails its type or its test, and
    ``kiosk config show`` masks it, a backend's as well as a section's. A ``default`` of
    None makes the option optional: None passes unchecked.
    """

    type: TypeSpec
    default: Any
    description: str = ""
    allowed: str = ""
    test: Callable[[Any], bool] | None = None
    secret: bool = False

    @property
    def rule(self) -> str:
        """What a value may be, in words, for error messages and the generated docs."""
        return self.allowed or type_name(self.type)


def check(key: str, option: Option, value: Any, *, types: bool = True,
          values: bool = True) -> None:
    """Raise ConfigError naming ``key`` unless ``value`` meets ``option``.

    ``types=False`` leaves the type to the caller (a backend's constructor, which Python
    code may call with an int for a float); ``values=False`` checks only the type (a
    backend's range is checked when the device is created).
    """
    if value is None and option.default is None:
        return
    if types and not type_ok(value, option.type):
        raise ConfigError(key, _shown(option, value), type_name(option.type))
    if values and option.test is not None and not option.test(value):
        raise ConfigError(key, _shown(option, value), option.rule)


# scheme://user:password@ at the start of a value: what an error message never repeats
_URL_CREDENTIALS = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*@")


def _shown(option: Option, value: Any) -> Any:
    """``value`` as an error message may repeat it: a secret masked, and a URL's
    ``user:password@`` too."""
    if option.secret:
        return MASK
    if isinstance(value, str):
        return _URL_CREDENTIALS.sub(rf"\1{MASK}@", value)
    return value


def check_values(section: str, options: Mapping[str, Option], values: Mapping[str, Any], *,
                 types: bool = True) -> None:
    """Check each value in ``values`` that ``options`` declares, in declaration order;
    keys are ``<section>.<name>``. Undeclared names in ``values`` are left alone."""
    for name, option in options.items():
        if name in values:
            check(f"{section}.{name}", option, values[name], types=types)


# -- the types -----------------------------------------------------------------------------
def _figure(value: float) -> str:
    """A limit as a maintainer types it: whole numbers in full (1099511627776, not
    1.09951e+12), others shortest."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _number_rule(minimum: float | None, maximum: float | None, above: float | None) -> str:
    if above is not None:
        return f"a number above {_figure(above)}" + (
            f" and at most {_figure(maximum)}" if maximum is not None else "")
    if minimum is not None and maximum is not None:
        return f"a number from {_figure(minimum)} to {_figure(maximum)}"
    if minimum is not None:
        return f"a number >= {_figure(minimum)}"
    if maximum is not None:
        return f"a number <= {_figure(maximum)}"
    return ""


def _in_range(minimum: float | None, maximum: float | None,
              above: float | None) -> Callable[[Any], bool] | None:
    if minimum is None and maximum is None and above is None:
        return None

    def test(value: Any) -> bool:
        # Written as "within", not "not outside": NaN (TOML has `nan`) is within nothing.
        return ((minimum is None or value >= minimum) and (maximum is None or value <= maximum)
                and (above is None or value > above))
    return test


def _choice_rule(choices: Iterable[Any]) -> str:
    return "one of " + ", ".join(repr(c) for c in choices)


def Integer(default: int | None, minimum: int | None = None, maximum: int | None = None, *,
            choices: Iterable[int] = (), test: Callable[[int], bool] | None = None,
            description: str = "", allowed: str = "", secret: bool = False) -> Option:
    """A whole number within ``minimum``-``maximum``, or one of ``choices``, or passing
    ``test``."""
    if test is not None:
        return Option(int, default, description, allowed, test, secret)
    chosen = tuple(choices)
    if chosen:
        return Option(int, default, description, allowed or _choice_rule(chosen),
                      chosen.__contains__, secret)
    return Option(int, default, description, allowed or _number_rule(minimum, maximum, None),
                  _in_range(minimum, maximum, None), secret)


def Number(default: float | None, minimum: float | None = None,
           maximum: float | None = None, *, above: float | None = None,
           description: str = "", allowed: str = "") -> Option:
    """An integer or float within ``minimum``-``maximum`` (``above``: strictly more than)."""
    return Option((int, float), default, description,
                  allowed or _number_rule(minimum, maximum, above),
                  _in_range(minimum, maximum, above))


def Boolean(default: bool, *, description: str = "") -> Option:
    """``true`` or ``false``."""
    return Option(bool, default, description)


def String(default: str | None, *, choices: Iterable[str] = (),
           pattern: str | None = None, test: Callable[[str], bool] | None = None,
           description: str = "", allowed: str = "", secret: bool = False) -> Option:
    """Text: one of ``choices``, or matching ``pattern`` (whole), or passing ``test``."""
    chosen = tuple(choices)
    if chosen:
        return Option(str, default, description, allowed or _choice_rule(chosen),
                      chosen.__contains__, secret)
    if pattern is not None:
        compiled = re.compile(pattern)  # fullmatch: "$" would let a trailing "\n" through
        return Option(str, default, description, allowed or f"text matching {pattern!r}",
                      lambda v: bool(compiled.fullmatch(v)), secret)
    return Option(str, default, description, allowed, test, secret)


def List(default: list[Any], test: Callable[[list[Any]], bool] | None = None, *,
         description: str = "", allowed: str = "") -> Option:
    """A TOML array; ``test`` says which (``allowed`` says it in words)."""
    return Option(list, default, description, allowed, test)


def GpioPin(default: int | None, *, description: str = "") -> Option:
    """A Raspberry Pi GPIO line by its BCM number, GPIO0-27 on the 40-pin header."""
    return Integer(default, choices=range(28), allowed="a BCM GPIO number 0-27",
                   description=description)


def parses(parse: Callable[[Any], object]) -> Callable[[Any], bool]:
    """A test that passes a value when ``parse(value)`` raises no ValueError: the rule
    stays with the code that applies it (``bytes.fromhex``, a card's PIN padding)."""
    def test(value: Any) -> bool:
        try:
            parse(value)
        except ValueError:
            return False
        return True
    return test


def strings(value: list[Any], *, empty: bool = False) -> bool:
    """A list of non-empty strings (``empty``: the list itself may be empty)."""
    return (empty or bool(value)) and all(isinstance(x, str) and x for x in value)


# -- documentation ----------------------------------------------------------------------------
def toml_value(value: Any) -> str:
    """``value`` written as a TOML value (``kiosk config show``, the option tables)."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def markdown_rows(section: str, options: Mapping[str, Option]) -> list[str]:
    """One Markdown table row per option: key, default, allowed values, description."""
    rows = []
    for name, option in options.items():
        default = "(unset)" if option.default is None else f"`{toml_value(option.default)}`"
        text = " ".join(option.description.split()).replace("|", "\\|")
        rule = option.rule.replace("|", "\\|")
        rows.append(f"| `{section}.{name}` | {default} | {rule} | {text} |")
    return rows
