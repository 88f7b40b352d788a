"""Translations: Bahasa Indonesia first, English too.

Message catalogs are gettext ``.po`` files under ``kiosk/locale/<lang>/LC_MESSAGES/``,
read with Babel at start-up (no compile step to forget on a field update). Source strings
(msgids) are English; a missing translation falls back to the msgid, never to an error.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

from kiosk.core.vocabulary import LANGUAGES

LOCALE_DIR = Path(__file__).with_name("locale")
#: The language a session starts in: the first of the kiosk's languages (Bahasa Indonesia).
DEFAULT_LANGUAGE = LANGUAGES[0]


@cache
def _catalog(language: str) -> dict[str, str]:
    path = LOCALE_DIR / language / "LC_MESSAGES" / "kiosk.po"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string}


def translate(message: str, language: str = DEFAULT_LANGUAGE) -> str:
    """``message`` (English msgid) in ``language``; the msgid itself when untranslated."""
    return _catalog(language).get(message, message)


def N_(msgid: str) -> str:
    """Mark ``msgid`` as a catalog message; translated where it is shown."""
    return msgid


def bilingual(msgid: str, **args: object) -> tuple[str, str]:
    """(Indonesian, English) of catalog message ``msgid``, its ``{name}`` placeholders
    filled from ``args``; an argument given as ``N_``-marked text is itself translated
    (pass it as ``tr_args``-style pairs through :func:`bilingual_with`)."""
    return translate(msgid, "id").format(**args), msgid.format(**args)


def bilingual_with(msgid: str, labels: dict[str, str], **args: object) -> tuple[str, str]:
    """Like :func:`bilingual`, with ``labels`` (placeholder -> catalog msgid) translated
    into each language first, e.g. ``bilingual_with("{field} is required.",
    {"field": "Full name"})`` -> ("Nama lengkap wajib diisi.", "Full name is required.")."""
    id_args = {k: translate(v, "id") for k, v in labels.items()}
    return (translate(msgid, "id").format(**id_args, **args),
            msgid.format(**labels, **args))


def catalog_ids(language: str) -> set[str]:
    """The msgids that have a translation in ``language`` (for completeness tests)."""
    return set(_catalog(language))


# -- which messages exist ----------------------------------------------------------------------
_KV_TR = re.compile(r"""\btr\(\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*,""")
_MARKERS = frozenset({"N_", "tr", "translate", "t", "bilingual", "bilingual_with"})


def source_msgids(root: Path = Path(__file__).parent) -> dict[str, str]:
    """Every citizen-facing msgid in the kiosk's code, with where it is first used:
    ``N_("...")``/``tr("...")``/``translate("...")`` in ``.py`` files (read with ``ast``,
    so implicit concatenation counts) and ``tr('...', ...)`` in ``.kv`` files."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                    and getattr(node.func, "id", getattr(node.func, "attr", "")) in _MARKERS):
                found.setdefault(node.args[0].value, f"{path.name}:{node.lineno}")
    for path in sorted(root.rglob("*.kv")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for single, double in _KV_TR.findall(line):
                text = (single or double).encode().decode("unicode_escape")
                found.setdefault(text, f"{path.name}:{number}")
    return found
