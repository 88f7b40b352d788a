"""``kiosk.core`` and ``kiosk.fsutil`` are the bottom layer: they import nothing else from
the kiosk or the intake, so every other module may import them without a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kiosk

KIOSK = Path(kiosk.__file__).parent
BOTTOM = [*sorted((KIOSK / "core").glob("*.py")), KIOSK / "fsutil.py"]


def imported_modules(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


@pytest.mark.parametrize("path", BOTTOM, ids=lambda p: p.relative_to(KIOSK.parent).as_posix())
def test_the_bottom_layer_imports_nothing_from_the_kiosk_or_the_intake(path: Path) -> None:
    own = [name for name in imported_modules(path)
           if name.startswith(".") or name.split(".")[0] in {"kiosk", "intake"}]
    assert own == [], f"{path.name} imports {own}"
