"""Every repository path README.md and docs/*.md name exists: the tour matches the tree.

A path is a backticked span, a token in a fenced block, a link target or an ``src`` that
starts with one of the repository's top folders (``kiosk/``, ``intake/``, ``tests/`` ...).
A ``*`` in it must match at least one file; a trailing ``:LINE`` or ``::test`` is dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO

ROOTS = ("kiosk", "intake", "tests", "scripts", "docs", "benchmarks", "systemd")
_PATH = re.compile(r"(?<![\w/.~-])((?:" + "|".join(ROOTS) + r")/[\w./*-]*)")
_BACKTICKED = re.compile(r"`([^`\n]+)`")
_FENCED = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
_LINKED = re.compile(r"\]\(([^)\s#]+)|\bsrc=\"([^\"]+)\"")

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def named_paths(text: str) -> list[tuple[int, str]]:
    """``(line, path)`` for each repository path ``text`` names, in order."""
    spans = [(m.start(1), m.group(1)) for m in _BACKTICKED.finditer(text)]
    spans += [(m.start(1), m.group(1)) for m in _FENCED.finditer(text)]
    spans += [(m.start(), m.group(1) or m.group(2)) for m in _LINKED.finditer(text)]
    found = []
    for start, span in spans:
        for match in _PATH.finditer(span):
            path = match.group(1).split("::")[0].rstrip(".:")
            path = re.sub(r":\d+$", "", path)
            found.append((text.count("\n", 0, start) + 1, path))
    return sorted(set(found))


def missing(root: Path, paths: list[tuple[int, str]]) -> list[str]:
    """The named paths that do not exist under ``root`` (a glob must match something)."""
    gone = []
    for line, path in paths:
        exists = any(root.glob(path)) if "*" in path else (root / path).exists()
        if not exists:
            gone.append(f"line {line}: {path}")
    return gone


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_repository_path_a_document_names_exists(document: Path) -> None:
    paths = named_paths(document.read_text(encoding="utf-8"))
    assert missing(REPO, paths) == [], f"{document.name} names paths that do not exist"


def test_readme_tour_names_paths() -> None:
    """The check has something to check: the tour's table names the packages."""
    paths = {path for _, path in named_paths((REPO / "README.md").read_text(encoding="utf-8"))}
    assert {"kiosk/cli.py", "kiosk/journal/", "kiosk/upload/", "kiosk/maintenance/",
            "intake/"} <= paths


def test_a_path_that_is_not_in_the_tree_is_reported(tmp_path: Path) -> None:
    """The check can fail: a renamed module the text still names, in every form it takes."""
    (tmp_path / "kiosk" / "journal").mkdir(parents=True)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_kill.py").write_text("")
    text = ("| `kiosk/journal.py` | the journal |\n"
            "the package `kiosk/journal/` and `tests/test_kill.py::test_x`, `tests/test_k*.py`\n"
            "```\nkiosk/queue/uploader.py\n```\n"
            "[upload](docs/upload.md) and `tests/test_gone*.py`, `kiosk/journal/core.py:12`\n")
    assert missing(tmp_path, named_paths(text)) == [
        "line 1: kiosk/journal.py",
        "line 4: kiosk/queue/uploader.py",
        "line 6: docs/upload.md",
        "line 6: kiosk/journal/core.py",
        "line 6: tests/test_gone*.py",
    ]
