"""Everything the citizen is told, in one place: messages from the domain and the devices,
turned into text of the chosen language (no Kivy here).

A :class:`Msg` is either a catalog message (an English msgid, translated through
``kiosk/locale``) or a domain message that already carries both languages
(:class:`~kiosk.errors.InvalidInput`, :class:`~kiosk.enrollment.quality.QualityReport`).
:func:`for_error` maps every exception a step can raise to what the citizen should read:
never a stack trace, never an exception's own text (which is for maintainers and logs).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from kiosk.errors import (
    DeviceBusy,
    DeviceError,
    DeviceTimeout,
    InvalidInput,
    RefusalCategory,
    SessionExpired,
    StorageFull,
)
from kiosk.i18n import N_, translate

__all__ = ["NONE", "N_", "Msg", "closed_summary", "for_error"]



@dataclass(frozen=True)
class Msg:
    """Text for the citizen in either language; ``text(language)`` picks one."""

    msgid: str = ""
    id_text: str = ""
    en_text: str = ""
    kind: str = "error"  # "error" (dark red) or "info" (ink) or "ok" (green)
    args: tuple[tuple[str, object], ...] = ()  # {name} placeholders of a catalog message

    @classmethod
    def of(cls, msgid: str, kind: str = "error", **args: object) -> Msg:
        """A catalog message, its ``{name}`` placeholders filled from ``args``."""
        return cls(msgid=msgid, kind=kind, args=tuple(sorted(args.items())))

    @classmethod
    def pair(cls, id_text: str, en_text: str, kind: str = "error") -> Msg:
        """A message the domain wrote in both languages."""
        return cls(id_text=id_text, en_text=en_text, kind=kind)

    def text(self, language: str) -> str:
        if self.msgid:
            text = translate(self.msgid, language)
            return text.format(**dict(self.args)) if self.args else text
        return self.en_text if language == "en" else self.id_text

    def __bool__(self) -> bool:
        return bool(self.msgid or self.id_text or self.en_text)


NONE = Msg()

#: Added after three failed tries at a capture, after the failure's own message (which
#: says what to do to try again): the other way on, not a second order.
CALL_OFFICER = N_("Or press HELP to call an officer.")
DEVICE_TIMEOUT = {
    "camera": N_("The camera did not answer. Please try again."),
    "fingerprint": N_("The fingerprint sensor did not answer. Place your finger and try "
                      "again."),
}
DEVICE_FAULT = {
    "camera": N_("The camera is not working. Please press HELP to call an officer."),
    "fingerprint": N_("The fingerprint sensor is not working. Please press HELP to call "
                      "an officer."),
}
DISK_FULL = N_("The kiosk cannot save any more recordings. Please press HELP to call an "
               "officer.")
SAVE_FAILED = N_("Your data could not be saved. Please try again, or press HELP.")
EXPIRED = N_("Your session ended because it was idle too long. Please start again.")
#: On the welcome after the idle wipe (or the session's own expiry), for the citizen who
#: comes back: nothing personal, and true: the session aborted, its record was deleted.
IDLE_ENDED = N_("Your session ended because the screen was not touched for a while. "
                "What you entered has been deleted.")
#: On the welcome after a start that found a citizen's recording unfinished (a crash, a
#: power the UPS did not carry): start-up recovery deleted it (kiosk.recovery).
RESTARTED = N_("The kiosk restarted before a recording was finished. What was entered has "
               "been deleted. Please start again.")
BUSY = N_("Please wait, still working.")
#: The help overlay's two lines (common.kv), also spoken when help is called.
HELP_CALLED = N_("An officer has been called.")
HELP_WAIT = N_("Please wait here. The light on the kiosk is blinking so the officer can "
               "find you.")
#: Spoken when the idle warning comes up (the overlay shows the seconds left).
#: On the details page after the NIK was changed from review, when the new NIK gives
#: another date of birth or sex (they come from the NIK, not typed): read them again.
NIK_CHANGED_DETAILS = N_("The date of birth or sex from your new NIK is different. Please "
                         "check your details.")
#: On the photo after the NIK was changed from review to one of another background colour
#: (the e-KTP's follows the year of birth): the photo must be taken again.
PORTRAIT_BACKGROUND = N_("The photo's background colour follows your year of birth. "
                         "Please take a new photo.")
#: Beside the photo taken: why its background is not the one the camera saw (the kiosk
#: puts in the e-KTP colour of the year of birth), so nobody retakes it for that.
BACKGROUND_FOR_YEAR = {
    "odd": N_("Red background: the e-KTP colour for an odd year of birth."),
    "even": N_("Blue background: the e-KTP colour for an even year of birth."),
}
IDLE_ASK = N_("Are you still there? Tap Continue to keep going.")
#: Spoken some seconds before the receipt goes (flow_privacy.RECEIPT_WARN_S); the screen
#: shows the seconds left and More time.
RECEIPT_ENDING = N_("This screen closes soon. Touch it if you need more time.")
#: The same at the receipt's longest (RECEIPT_MAX_S): no more time can be given.
RECEIPT_LAST = N_("This screen closes soon.")
#: The messages that send the citizen to the HELP button (the Help button is then drawn
#: as the way forward, so the word on the screen points at the button that stands out).
ASKS_FOR_HELP = frozenset({CALL_OFFICER, *DEVICE_FAULT.values(), DISK_FULL, SAVE_FAILED})


def for_error(error: BaseException, device: str = "") -> Msg:
    """What to tell the citizen about ``error`` (raised by a step or a capture)."""
    if isinstance(error, InvalidInput):
        return Msg.pair(error.message_id, error.message_en)
    report = getattr(error, "report", None)  # LowQuality carries its QualityReport
    if report is not None:
        return Msg.pair(report.reason_id, report.reason_en)
    if isinstance(error, DeviceBusy):
        return Msg.of(BUSY, "info")
    if isinstance(error, DeviceTimeout):
        return Msg.of(DEVICE_TIMEOUT.get(device, DEVICE_TIMEOUT["camera"]))
    if isinstance(error, DeviceError):
        return Msg.of(DEVICE_FAULT.get(device, DEVICE_FAULT["camera"]))
    if isinstance(error, SessionExpired):
        return Msg.of(EXPIRED)
    if isinstance(error, StorageFull) or (
            isinstance(error, OSError) and error.errno == errno.ENOSPC):
        return Msg.of(DISK_FULL)
    return Msg.of(SAVE_FAILED)


#: The closed screen's line for the officer: why the kiosk takes no recording, by kind
#: (:class:`~kiosk.errors.RefusalCategory`), in the screen's language. The check's English
#: reason is shown apart, as the technical detail the officer reads to a maintainer.
CLOSED_SUMMARY = {
    RefusalCategory.STORAGE_FULL: N_("The kiosk's storage is full."),
    RefusalCategory.STORAGE_UNUSABLE: N_("The kiosk cannot write to its storage."),
    RefusalCategory.BATTERY_LOW: N_("Power cut, and the battery is low."),
    RefusalCategory.POWER_SHUTDOWN: N_("The kiosk is shutting down: the battery is "
                                       "running out."),
    RefusalCategory.JOURNAL: N_("The recordings file is damaged. A maintainer must check "
                                "it."),
    RefusalCategory.DEVICE: N_("A device of the kiosk is not working."),
    RefusalCategory.STARTUP: N_("The kiosk could not start."),
    RefusalCategory.CONFIGURATION: N_("The kiosk's settings are wrong. A maintainer must "
                                      "correct them."),
    RefusalCategory.INTERNAL: N_("The kiosk's own check failed."),
}
#: A refusal of no known kind (a caller that gave none): the technical detail says why.
CLOSED_UNKNOWN = N_("See the technical detail below.")
#: The label of that detail (the English reason, for the maintainer on the phone).
TECHNICAL_DETAIL = N_("Technical detail for the maintainer:")


def closed_summary(category: str) -> str:
    """The catalog msgid saying why the kiosk is closed, for a refusal of ``category``."""
    try:
        return CLOSED_SUMMARY[RefusalCategory(category)]
    except ValueError:
        return CLOSED_UNKNOWN
