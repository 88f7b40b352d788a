"""lint-imports for imports by name: no module names, in a string, one it may not import.

A backend table of ``"module:Class"`` strings loaded with importlib, or ``runpy.run_module``,
imports a module lint-imports never sees. A lower layer loading a higher one that way is an
import circle nobody notices (issue #13: the hardware registry once loaded the UPS backends
of ``kiosk.power`` by name). So every string in ``kiosk/`` and ``intake/`` that is the
dotted name of one of their modules (optionally ``:attribute``) is held to the layers and
forbidden contracts of ``pyproject.toml`` as if it were an import. Logger names are not
imports (``getLogger("kiosk.cli")`` logs as the command) and are left alone.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kiosk", "intake")
_NAME = re.compile(r"((?:kiosk|intake)(?:\.[A-Za-z_]\w*)+)(?::[A-Za-z_]\w*)?")

Rule = Callable[[str, str], "str | None"]


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def named_modules(source: str) -> Iterator[tuple[int, str]]:
    """(line, module) for each string constant that names a kiosk or intake module."""
    tree = ast.parse(source)
    loggers = {id(arg) for node in ast.walk(tree) if isinstance(node, ast.Call)
               and getattr(node.func, "attr", getattr(node.func, "id", None)) == "getLogger"
               for arg in node.args}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in loggers):
            match = _NAME.fullmatch(node.value)
            if match and _is_module(match.group(1)):
                yield node.lineno, match.group(1)


def _layers_rule(contract: dict) -> Rule:
    layers: list[tuple[list[str], bool]] = []  # (modules of the layer, independent)
    for layer in contract["layers"]:
        independent = "|" in layer
        layers.append(([n.strip() for n in re.split(r"[|:]", layer)], independent))

    def place(module: str) -> tuple[int, str] | None:
        for container in contract["containers"]:
            for index, (names, _) in enumerate(layers):
                for name in names:
                    if _within(module, f"{container}.{name}"):
                        return index, f"{container}.{name}"
        return None

    def rule(importer: str, imported: str) -> str | None:
        where, what = place(importer), place(imported)
        if where is None or what is None:
            return None
        if what[0] < where[0]:
            return f"{contract['id']}: {what[1]} is a layer above {where[1]}"
        if what[0] == where[0] and what[1] != where[1] and layers[what[0]][1]:
            return f"{contract['id']}: {where[1]} and {what[1]} are independent"
        return None

    return rule


def _forbidden_rule(contract: dict) -> Rule:
    def rule(importer: str, imported: str) -> str | None:
        if any(_within(importer, s) for s in contract["source_modules"]) and any(
                _within(imported, f) for f in contract["forbidden_modules"]):
            return f"{contract['id']}: {importer} may not import {imported}"
        return None

    return rule


def rules() -> list[Rule]:
    """The layers and forbidden contracts of pyproject.toml, as (importer, imported) checks."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    make = {"layers": _layers_rule, "forbidden": _forbidden_rule}
    return [make[c["type"]](c) for c in config["contracts"] if c["type"] in make]


def violations(module: str, source: str, checks: list[Rule]) -> list[str]:
    return [f"{module}:{line} names {named} ({problem})"
            for line, named in named_modules(source)
            for check in checks if (problem := check(module, named)) is not None]


def test_no_module_names_a_module_it_may_not_import() -> None:
    checks = rules()
    found = [problem for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
             for problem in violations(_module_of(path), path.read_text(), checks)]
    assert found == []


def test_a_backend_table_naming_a_higher_layer_is_found() -> None:
    # What kiosk/hardware/registry.py held before the UPS backends got their own table.
    old_table = ('BACKENDS = {"gpio": {"mock": "kiosk.hardware.gpio:MockKioskGpio"},\n'
                 '            "power": {"nut": "kiosk.power.nut:NutUps"}}\n'
                 'log = logging.getLogger("kiosk.power")\n')
    found = violations("kiosk.hardware.registry", old_table, rules())
    assert found == ["kiosk.hardware.registry:2 names kiosk.power.nut (kiosk-layers: "
                     "kiosk.power is a layer above kiosk.hardware)"]
    # A driver naming the config, and a sibling of an independent layer, are found too.
    assert violations("kiosk.power.nut", 'X = "kiosk.config:load_config"', rules())
    assert violations("kiosk.status", 'X = "kiosk.app"', rules())
