"""Fuzzing the configuration: random TOML documents (nested tables of random keys and values
of every TOML type, biased towards the real sections, keys and backend options) and random
text or bytes, through ``load_config`` (``read_toml`` + ``validate``) and what
``kiosk config check`` adds (``check_sealing``, ``check_devices``). Anything wrong must be a
:class:`~kiosk.errors.ConfigError` that names a key and says what is allowed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from kiosk.config import (
    SCHEMA,
    Config,
    check_devices,
    check_sealing,
    check_upload,
    load_config,
    validate,
)
from kiosk.core.ids import KIOSK_ID
from kiosk.devices import BACKENDS, get_backend_class
from kiosk.errors import ConfigError
from tests.fuzz.budget import fuzz


# -- a small TOML writer (tomllib only reads) ----------------------------------------------------
def toml_string(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_string(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_document(doc: dict[str, Any]) -> str:
    """Top-level scalars first, then one ``[table]`` per nested dict (dotted headers)."""
    lines: list[str] = []

    def table(prefix: list[str], values: dict[str, Any]) -> None:
        plain = {k: v for k, v in values.items() if not isinstance(v, dict)}
        nested = {k: v for k, v in values.items() if isinstance(v, dict)}
        if prefix:
            lines.append("[" + ".".join(toml_key(p) for p in prefix) + "]")
        lines.extend(f"{toml_key(k)} = {toml_value(v)}" for k, v in plain.items())
        for key, sub in nested.items():
            table([*prefix, key], sub)

    table([], doc)
    return "\n".join(lines) + "\n"


# -- strategies ------------------------------------------------------------------------------------
KNOWN_KEYS = sorted({key for fields in SCHEMA.values() for key in fields}
                    | {option for kind, names in BACKENDS.items() for name in names
                       for option in get_backend_class(kind, name).OPTIONS})
BACKEND_NAMES = sorted({name for names in BACKENDS.values() for name in names})

scalars = st.one_of(
    st.text(max_size=20),
    st.sampled_from([*BACKEND_NAMES, "dev", "", "poso-01", "72.02", "id", "en", "auto",
                     "http://127.0.0.1:8700/", "https://[", "http://", "data", "/tmp/x",
                     "{data_dir}", "poso-01\n", "a\x00b", "/a\x00b"]),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 1, -1, 30, 57600, 3493, 65536, 2**40 + 1]),
    st.floats(),                                     # nan and inf included: TOML has them
    st.booleans(),
    st.dates(), st.times(), st.datetimes(),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=8)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(min_size=1, max_size=10))
tables = st.dictionaries(keys, values, max_size=6)
section_names = st.one_of(st.sampled_from(sorted(SCHEMA)), st.text(min_size=1, max_size=10))


def of_type(kind: type | tuple[type, ...], default: Any = None) -> st.SearchStrategy[Any]:
    """Values of the type a key wants (so validation goes past the type check), around its
    default, with the edges (0, negatives, nan, inf, "") a range check has to catch."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    options: list[st.SearchStrategy[Any]] = [] if default is None else [st.just(default)]
    for k in kinds:
        if k is bool:
            options.append(st.booleans())
        elif k is int:
            options.append(st.one_of(st.integers(-5, 70_000), st.integers(-(2**63), 2**63 - 1)))
        elif k is float:
            options.append(st.floats())
        elif k is str:
            options.append(st.one_of(st.text(max_size=12), st.sampled_from(BACKEND_NAMES)))
        elif k is list:
            options.append(st.lists(st.one_of(st.text(max_size=6), st.floats(-10, 2000),
                                              st.integers(-10, 2000)), max_size=3))
    return st.one_of(*options)


BACKEND_SECTIONS = {f"hardware.{kind}": kind for kind in BACKENDS if kind != "power"} | {
    "power": "power"}


@st.composite
def plausible_table(draw: st.DrawFn, section: str) -> dict[str, Any]:
    """A table for a real section: its own keys (and, for a device, its backend's options)
    with mostly well-typed values, now and then a stranger."""
    fields = SCHEMA[section]
    table: dict[str, Any] = {}
    options: dict[str, Any] = {}
    if section in BACKEND_SECTIONS:
        kind = BACKEND_SECTIONS[section]
        backend = draw(st.sampled_from(sorted(BACKENDS[kind])))
        table["type"] = backend
        options = dict(get_backend_class(kind, backend).OPTIONS)
    names = sorted(set(fields) - {"type"} | set(options))
    for name in draw(st.lists(st.sampled_from(names), max_size=4, unique=True)):
        if name in fields:
            table[name] = draw(of_type(fields[name].type, fields[name].default))
        else:
            table[name] = draw(of_type(options[name].type))
    if draw(st.sampled_from(range(10))) == 7:
        table[draw(keys)] = draw(values)
    return table


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for name in draw(st.lists(section_names, max_size=5, unique=True)):
        table = draw(st.one_of(plausible_table(name), tables) if name in SCHEMA else tables)
        if name.startswith("hardware."):
            doc.setdefault("hardware", {})[name.split(".", 1)[1]] = table
        else:
            doc[name] = table
    if draw(st.sampled_from(range(10))) == 7:  # one time in ten: a stray top-level value
        doc[draw(st.sampled_from(["hardware", "kiosk", "x"]))] = draw(scalars)
    return doc


_files = itertools.count()


def write(tmp: Path, content: bytes) -> Path:
    path = tmp / f"fuzz-{next(_files)}.toml"
    path.write_bytes(content)
    return path


def load(path: Path, absent: Path) -> Config | ConfigError:
    """load_config + what `kiosk config check` adds; the Config or the ConfigError (only)."""
    try:
        config = load_config(path, system_path=absent)
        check_sealing(config)
        check_upload(config)
        check_devices(config)
    except ConfigError as exc:
        assert isinstance(exc.key, str) and exc.key and exc.allowed, exc
        assert str(exc)
        return exc
    return config


def check_loaded(config: Config) -> None:
    data = config.as_dict(mask_secrets=False)
    assert set(data) == set(SCHEMA)
    validate(data)  # what loaded validates again: nothing slipped past
    # the one kiosk-id rule the intake applies too: a kiosk must never be configured with an
    # id whose records the intake would refuse for ever
    assert KIOSK_ID.fullmatch(config.kiosk_id), config.kiosk_id


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-config")


def test_the_writer_is_faithful() -> None:
    doc = {"kiosk": {"id": "a\x7f\"\\", "x y": [1, 2.5, {"q": True}]},
           "hardware": {"camera": {"type": "sim"}}}
    assert tomllib.loads(toml_document(doc)) == doc


def test_a_valid_document_loads(tmp: Path) -> None:
    doc = {"kiosk": {"id": "poso-07", "data_dir": "data", "session_timeout_s": 600},
           "hardware": {"fingerprint": {"type": "zfm", "port": "/dev/ttyUSB0",
                                        "timeout_s": 0.5}},
           "ui": {"panel_mm": [155, 86.5]}, "power": {"type": "nut", "timeout": 2},
           "sealing": {"central_key": "keys/central.pub"}}
    config = load(write(tmp, toml_document(doc).encode()), tmp / "absent.toml")
    assert isinstance(config, Config)
    assert config.kiosk_id == "poso-07" and config.data_dir == tmp / "data"


@fuzz(120)
@given(doc=documents())
@example(doc={"kiosk": {"id": "poso-01\n"}})     # passed the old ^...$ check
@example(doc={"kiosk": {"regency": "72.02\n"}})  # likewise
@example(doc={"kiosk": {"data_dir": "a\x00b"}})  # ValueError from Path.resolve before the fix
@example(doc={"sealing": {"device_key": "k\x00"}})
@example(doc={"upload": {"ca_file": "/ca\x00.pem"}})  # ValueError from open() before the fix
@example(doc={"upload": {"url": "http://[", "allow_insecure": True}})  # ValueError: urlsplit
@example(doc={"upload": {"url": "https://[::1"}})
@example(doc={"hardware": {"fingerprint": {"type": "zfm", "timeout_s": math.nan}}})
@example(doc={"hardware": {"card": {"type": "sim", "pin": "12", "uid": "zz"}}})
@example(doc={"hardware": 3})
@example(doc={"hardware": {"camera": 3}})
@example(doc={"ui": {"panel_mm": [math.inf, math.nan]}})
@example(doc={"power": {"type": "gpio", "full_voltage": math.nan}})
@example(doc={"kiosk": {"log_level": dt.date(2024, 1, 1)}})
def test_random_documents_load_or_raise_config_error(tmp: Path, doc: dict[str, Any]) -> None:
    text = toml_document(doc)
    assert toml_document(tomllib.loads(text)) == text  # the writer is faithful (nan too)
    result = load(write(tmp, text.encode()), tmp / "absent.toml")
    event("loaded" if isinstance(result, Config) else f"ConfigError on {result.key[:30]}")
    if isinstance(result, Config):
        check_loaded(result)


@fuzz(100)
@given(content=st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.text(st.sampled_from('[]{}=."\'# \n\tabk1,'), max_size=120).map(str.encode),
    st.integers(1, 5000).map(lambda n: b"a = " + b"[" * n),
))
@example(content=b"a = '\xff'")                        # UnicodeDecodeError before the fix
@example(content=b"a = " + b"[" * 5000)                # RecursionError before the fix
@example(content=b"a = " + b"{b = " * 3000)            # likewise, inline tables
@example(content=b"[kiosk]\nid = \"\\ud800\"")         # a surrogate escape
@example(content=b"\xef\xbb\xbf[kiosk]\n")             # a UTF-8 byte order mark
def test_random_files_load_or_raise_config_error(tmp: Path, content: bytes) -> None:
    result = load(write(tmp, content), tmp / "absent.toml")
    if isinstance(result, Config):
        check_loaded(result)


def test_a_bad_system_layer_is_a_config_error_too(tmp: Path) -> None:
    system = write(tmp, b"[kiosk]\nid = '\xff'\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(None, system_path=system)
