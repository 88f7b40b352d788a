"""Why the intake refuses: the refusal codes (permanent or temporary, and what each means;
``docs/upload.md`` lists them), a :class:`Refusal`, and :func:`safe_text`, which makes any
untrusted text fit for a log line or a stored reason.

A refusal's reason names record ids, key ids, steps and sizes only, never personal data.
"""

from __future__ import annotations

from dataclasses import dataclass

DIFFERENT_PACKET = "a different packet was already received for this record"
MAX_REASON_CHARS = 300

# Why a completed upload is refused: code -> (permanent, what it means). A permanent refusal
# is final for that packet (the kiosk moves the record to `rejected` and never resends it
# by itself); a temporary one asks for a fresh upload. docs/upload.md lists them.
REFUSALS: dict[str, tuple[bool, str]] = {
    "malformed_metadata": (True, "the upload's kiosk_id/record_id metadata are malformed"),
    "sha256_mismatch": (False, "the bytes received do not match the sha256 metadata"),
    "ids_mismatch": (True, "the metadata and the packet's manifest name different records"),
    "unknown_kiosk": (True, "no kiosk of that id is registered"),
    "revoked_kiosk": (True, "the kiosk's registration was revoked"),
    "wrong_key": (True, "the packet is signed by a key that is not the kiosk's"),
    "bad_signature": (True, "the manifest's signature does not verify"),
    "undecryptable": (True, "a step does not decrypt with this intake's central key"),
    "malformed_packet": (True, "the packet does not parse, or its parts do not match"),
    "layout_mismatch": (True, "the packet's length or blob table differs from its signed "
                              "manifest"),
    "too_large": (True, "a step of the packet is larger than the intake takes"),
    "different_packet": (True, DIFFERENT_PACKET),
    # refusals of a request, not of a packet (docs/upload.md, "Kiosk authentication")
    "unsigned": (False, "the request is not signed by a kiosk's device key"),
    "too_many_uploads": (False, "the kiosk has as many unfinished uploads as the intake "
                                "allows; one must finish or expire first"),
    "busy": (False, "every worker that processes completed uploads is busy; send the end "
                    "of the upload again later"),
}


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

    @property
    def permanent(self) -> bool:
        """Final for this packet (else a fresh upload may succeed)."""
        return REFUSALS[self.code][0]
