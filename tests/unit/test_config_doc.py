"""The one declaration of every option, and the documents written from it: docs/config.md is
generated from it, README's configuration block must agree with it, and each declared
default passes its own check."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from kiosk.config import SCHEMA, load_config
from kiosk.config_doc import render
from kiosk.devices import BACKENDS, get_backend_class, section_of
from kiosk.options import Option, check
from kiosk.power.policy import Thresholds
from kiosk.screens.flow import FlowSettings

ROOT = Path(__file__).resolve().parents[2]


def declared(section: str) -> dict[str, list[Option]]:
    """key -> its declarations in a section: the section's own, and every backend's."""
    out: dict[str, list[Option]] = {k: [v] for k, v in SCHEMA[section].items()}
    for kind, names in BACKENDS.items():
        if section_of(kind) == section:
            for name in names:
                for key, option in get_backend_class(kind, name).OPTIONS.items():
                    out.setdefault(key, []).append(option)
    return out


_VALUE = r'"[^"]*"|\[(?:[^\[\]]|\[[^\[\]]*\])*\]|true|false|-?[0-9][0-9_.]*'
_PAIR = re.compile(rf"([a-z_]+) = ({_VALUE})")


def readme_block(text: str) -> str:
    """The ```toml block of README's "## Configuration" section."""
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```toml\n", 1)[1].split("```", 1)[0]


def readme_disagreements(text: str) -> list[str]:
    """Where README's configuration block and the declarations disagree: an unknown
    section or key, a value that is not the declared default, a section left out."""
    problems: list[str] = []
    section = ""
    seen: set[str] = set()
    for line in readme_block(text).splitlines():
        line = line.split("#", 1)[0]  # comments hold examples of other values
        header = re.match(r"\[([a-z.]+)\]", line)
        if header:
            section = header.group(1)
            if section not in SCHEMA:
                problems.append(f"[{section}] is not a config section")
                continue
            seen.add(section)
        for key, value in _PAIR.findall(line):
            options = declared(section).get(key, []) if section in SCHEMA else []
            if not options:
                problems.append(f"{section}.{key} is not declared")
                continue
            parsed: Any = tomllib.loads(f"v = {value}")["v"]
            if all(option.default != parsed for option in options):
                problems.append(f"{section}.{key} = {value}, but its default is "
                                f"{options[0].default!r}")
    problems += [f"[{s}] is missing" for s in SCHEMA if s not in seen]
    return problems


def test_docs_config_md_is_generated_from_the_declarations() -> None:
    written = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    assert written == render(), "regenerate: python -m kiosk.config_doc > docs/config.md"


def test_readme_configuration_agrees_with_the_declarations() -> None:
    assert readme_disagreements((ROOT / "README.md").read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(("good", "bad", "problem"), [
    ("min_quality = 40", "min_quality = 45", "fingerprints.min_quality = 45"),
    ('ups = "ups"', 'upsname = "ups"', "power.upsname is not declared"),
    ("[doctor]", "[doktor]", "[doktor] is not a config section"),
])
def test_a_readme_that_disagrees_is_caught(good: str, bad: str, problem: str) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme_block(text)
    assert good in block
    found = readme_disagreements(text.replace(block, block.replace(good, bad, 1)))
    assert any(problem in p for p in found), found


def every_option() -> list[tuple[str, Option]]:
    out = [(f"{s}.{k}", o) for s, options in SCHEMA.items() for k, o in options.items()]
    for kind, names in BACKENDS.items():
        for name in names:
            out += [(f"{section_of(kind)}.{k} ({name})", o)
                    for k, o in get_backend_class(kind, name).OPTIONS.items()]
    return out


@pytest.mark.parametrize(("key", "option"), every_option(), ids=lambda v: str(v)[:60])
def test_every_declared_default_passes_its_own_check(key: str, option: Option) -> None:
    assert option.description, f"{key} has no description"
    check(key, option, option.default)


def test_settings_defaults_are_the_configs(tmp_path: Path) -> None:
    config = load_config(None, system_path=tmp_path / "none.toml")
    assert Thresholds.from_config(config["power"]) == Thresholds()
    assert FlowSettings.from_config(config) == FlowSettings(
        fingerprint_limits=FlowSettings.from_config(config).fingerprint_limits)
