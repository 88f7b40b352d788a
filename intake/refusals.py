"""Why the intake refuses: a :class:`Refusal` (one of the protocol's codes,
:class:`kiosk.core.intake_api.RefusalCode`, whose table :data:`REFUSALS` says whether each is
permanent and what it means; ``docs/upload.md`` lists them) and :func:`safe_text`, which
makes any untrusted text fit for a log line or a stored reason.

A refusal's reason names record ids, key ids, steps and sizes only, never personal data.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.core.intake_api import REFUSALS, RefusalCode

__all__ = ["DIFFERENT_PACKET", "MAX_REASON_CHARS", "REFUSALS", "Refusal", "RefusalCode",
           "safe_text"]

#: The reason stored for a second, different packet of a record (its code's meaning).
DIFFERENT_PACKET = REFUSALS[RefusalCode.DIFFERENT_PACKET][1]
MAX_REASON_CHARS = 300


def safe_text(text: object, limit: int = MAX_REASON_CHARS) -> str:
    """``text`` made safe for a log line or a stored reason: printable ASCII only (anything
    else as ``\\xNN``/``\\uNNNN`` escapes), on one line, at most ``limit`` characters."""
    escaped = str(text).encode("ascii", "backslashreplace").decode("ascii")
    cleaned = "".join(c if " " <= c <= "~" else f"\\x{ord(c):02x}" for c in escaped)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


@dataclass(frozen=True)
class Refusal:
    """One refusal: a code of :data:`REFUSALS` and a reason fit to store and show."""

    code: str
    reason: str

    def __post_init__(self) -> None:
        if self.code not in REFUSALS:
            raise ValueError(f"unknown refusal code {self.code!r}")
        object.__setattr__(self, "code", str(self.code))  # a plain str for the databases

    @property
    def permanent(self) -> bool:
        """Final for this packet (else a fresh upload may succeed)."""
        return REFUSALS[self.code][0]
