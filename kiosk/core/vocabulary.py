"""The words an enrollment is made of: the steps a record journals and seals, the finger
codes, the reasons a finger may be missing, the languages the kiosk speaks, the length of a
citizen's numbers.

The session, the screens, the journal, the sealer and the demo all import these; the order
of each tuple is part of the contract (steps are sealed in :data:`STEPS` order, fingers are
captured in :data:`FINGERS` order).
"""

from __future__ import annotations

__all__ = ["FINGERS", "LANGUAGES", "MISSING_FINGER_REASONS", "NIK_LENGTH", "STEPS"]

#: The steps a record may have journaled and sealed, in their canonical order.
STEPS: tuple[str, ...] = (
    "consent", "identity", "demographics", "portrait", "fingerprints", "signature")
#: Finger codes: R1..R5 right thumb..little, L1..L5 left thumb..little.
FINGERS: tuple[str, ...] = ("R1", "R2", "R3", "R4", "R5", "L1", "L2", "L3", "L4", "L5")
#: Why a finger could not be captured (recorded exceptions, assisted sessions only).
MISSING_FINGER_REASONS: tuple[str, ...] = (
    "amputated", "bandaged", "scarred", "deformed", "unreadable")
#: The languages of the kiosk's screens and messages, Bahasa Indonesia first.
LANGUAGES: tuple[str, ...] = ("id", "en")
#: How many digits a NIK has; a No. KK has as many (the NIK check, the keypad, the log
#: redaction).
NIK_LENGTH = 16
