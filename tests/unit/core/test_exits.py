"""The exit statuses are a contract (README): each name in :mod:`kiosk.core.exits` keeps
the number README documents for its meaning, and no other module defines one of its own.

The table below pairs each name with the sentence of README that documents it; a change of
the number on either side fails, and so does a name that README does not document.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import kiosk.core.exits as exits
from tests.conftest import REPO

README = " ".join((REPO / "README.md").read_text().split())  # line breaks as spaces

# (name, README's sentence with the documented number as the group)
DOCUMENTED: list[tuple[str, str]] = [
    # the kiosk command's list ("Exit codes: ...")
    ("EXIT_OK", r"Exit codes: (\d+) done, "),
    ("EXIT_FAIL", r"Exit codes: \d+ done, (\d+) failed \(reason on stderr\)"),
    ("EXIT_CONFIG", r"\(reason on stderr\), (\d+) configuration or usage error, "),
    ("EXIT_NOT_ACCEPTING", r"usage error, (\d+) not accepting enrollments \("),
    ("EXIT_INTERRUPTED", r"unusable keys\), (\d+) interrupted \(Ctrl-C\)"),
    ("EXIT_TERMINATED", r"interrupted \(Ctrl-C\), (\d+) stopped by SIGTERM \(`kiosk demo`"),
    ("EXIT_NOT_ACCEPTING", r"\(`kiosk demo` exits (\d+)\)"),
    # kiosk doctor
    ("EXIT_OK", r"\*\*Exit status: (\d+) when nothing failed \(warnings allowed\)"),
    ("EXIT_FAIL", r"(\d+) when any check failed or was skipped\*\*"),
    ("EXIT_CONFIG", r"was skipped\*\*, (\d+) for a usage mistake"),
    # kiosk upload --once
    ("EXIT_OK", r"`--once` exits (\d+) when the outbox is empty"),
    ("EXIT_PENDING", r"when the outbox is empty, (\d+) when records are still pending"),
    # kiosk update
    ("EXIT_OK", r"Exit codes: (\d+) on the release asked for"),
    ("EXIT_FAIL", r"on the release asked for; (\d+) not \(the message says"),
    ("EXIT_CONFIG", r"which release the kiosk is on and why\); (\d+) a usage mistake"),
]


@pytest.mark.parametrize(("name", "sentence"), DOCUMENTED,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(DOCUMENTED)])
def test_each_exit_status_keeps_the_number_readme_documents(name: str, sentence: str) -> None:
    found = re.findall(sentence, README)
    assert len(found) == 1, f"README no longer says {sentence!r} exactly once: {found}"
    assert getattr(exits, name) == int(found[0]), (name, sentence)


def test_every_exit_status_is_documented_and_exported() -> None:
    names = {n for n in vars(exits) if n.startswith("EXIT_")}
    assert names == {name for name, _ in DOCUMENTED}
    # and the helpers: a closed stdout, SIGTERM as an exception
    assert set(exits.__all__) == names | {"exit_reader_gone", "Terminated", "stop_on_sigterm"}


def test_no_other_module_defines_an_exit_status() -> None:
    """A second ``EXIT_... = n`` anywhere in the kiosk or the intake would be a second home
    (the names are imported from kiosk.core.exits)."""
    home = Path(exits.__file__)
    own: list[str] = []
    for path in sorted([*(REPO / "kiosk").rglob("*.py"), *(REPO / "intake").rglob("*.py")]):
        if path == home:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = (node.targets if isinstance(node, ast.Assign)
                       else [node.target] if isinstance(node, ast.AnnAssign) else [])
            for target in targets:
                names = target.elts if isinstance(target, ast.Tuple) else [target]
                own += [f"{path.relative_to(REPO)}:{node.lineno} {n.id}" for n in names
                        if isinstance(n, ast.Name) and n.id.startswith("EXIT_")]
    assert own == []
