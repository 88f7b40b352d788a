"""The names of the upload protocol live in kiosk.core.intake_api alone: no other module of
the kiosk or the intake writes one of them again (docstrings aside), so an end that wants a
name imports it, and both ends read the one definition. That they agree on the wire is
``tests/integration/test_intake_server.py``'s (the kiosk's tus client against the intake).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kiosk.core.intake_api as api
from tests.conftest import REPO

HOME = Path(api.__file__)
SOURCES = sorted(p for p in [*(REPO / "kiosk").rglob("*.py"), *(REPO / "intake").rglob("*.py")]
                 if p != HOME)

ENDPOINTS = (api.FILES_ENDPOINT, api.RECEIPTS_ENDPOINT, api.KIOSKS_ENDPOINT,
             api.HEALTH_ENDPOINT)
# values whose every appearance as a string is a use of the protocol's name
WORDS = (api.UPLOAD_OFFSET, api.UPLOAD_LENGTH, api.UPLOAD_METADATA, api.RECEIPT_HEADER,
         api.RECEIPT_CONTENT_TYPE, api.SERVER_VERSION, api.TOKEN_REFUSED)
# the refusal codes, as written ("busy" is also a status light's word, so it is left out)
CODES = {code.value for code in api.RefusalCode if code is not api.RefusalCode.BUSY}


def written_again(text: str) -> bool:
    """Whether the string ``text`` spells one of the protocol's names (or starts a path
    with an endpoint) instead of importing it."""
    if (text.lower() in {w.lower() for w in WORDS} or text in CODES
            or text.startswith(api.SERVER_PRODUCT)):
        return True
    return any(text in (f"/{e}", f"{e}/") or text.startswith((f"/{e}/", f"{e}/"))
               for e in ENDPOINTS)


def strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of each string constant in ``path`` but its docstrings (the literal
    pieces of an f-string included)."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


def test_no_module_writes_a_protocol_name_of_its_own() -> None:
    found = [f"{path.relative_to(REPO)}:{line} {text!r}" for path in SOURCES
             for line, text in strings(path) if written_again(text)]
    assert found == []


@pytest.mark.parametrize("text", [
    "Intake-Receipt", "upload-offset", "Upload-Metadata", "kiosk-intake/1",
    "application/octet-stream", "files/", "/files", "receipts/", "/health", "kiosks/x",
    "unknown_kiosk", "wrong_key", "unsigned", "missing or wrong bearer token"])
def test_the_scan_finds_a_name_written_again(text: str) -> None:
    assert written_again(text)


@pytest.mark.parametrize("text", ["health", "kiosks", "the receipts/ of a kiosk",
                                  "application/json", "Upload-Checksum"])
def test_the_scan_leaves_other_strings(text: str) -> None:
    assert not written_again(text)
