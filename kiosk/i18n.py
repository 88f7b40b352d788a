"""Translations: Bahasa Indonesia first, English too.

Message catalogs are gettext ``.po`` files under ``kiosk/locale/<lang>/LC_MESSAGES/``,
read with Babel at start-up (no compile step to forget on a field update). Source strings
(msgids) are English; a missing translation falls back to the msgid, never to an error.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"


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


def catalog_ids(language: str) -> set[str]:
    """The msgids that have a translation in ``language`` (for completeness tests)."""
    return set(_catalog(language))
