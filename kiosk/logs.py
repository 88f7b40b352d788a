"""Logging, configured once per process.

Everything logs through ``logging.getLogger(__name__)``. Logs go to stderr (journald
collects them under systemd). Raw device traffic has its own loggers under
``kiosk.wire.*`` at DEBUG, off unless asked for.

Personal data must never reach a log line. Code is written not to log it; as a second line
of defence :class:`RedactFilter` masks anything shaped like a NIK or No. KK (16 digits, with
or without the separators people type) before a record is emitted.
"""

from __future__ import annotations

import logging
import re
import sys

from kiosk.core.vocabulary import NIK_LENGTH

# A NIK or No. KK, its digits perhaps grouped by spaces, dots or hyphens.
_CITIZEN_NUMBER = re.compile(rf"(?<!\d)(?:\d[ .\-]?){{{NIK_LENGTH - 1}}}\d(?!\d)")
REDACTED = "[redacted]"


class RedactFilter(logging.Filter):
    """Masks 16-digit numbers (NIK, No. KK) in the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _CITIZEN_NUMBER.sub(REDACTED, message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def setup_logging(level: str = "INFO", *, stream=None) -> None:
    """Configure the root logger once: stderr, level, redaction. Safe to call again."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_kiosk", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._kiosk = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # Device wire traffic stays quiet unless DEBUG is asked for explicitly.
    logging.getLogger("kiosk.wire").setLevel(logging.DEBUG if level == "DEBUG" else logging.INFO)
