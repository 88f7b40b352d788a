"""The officer's home, between people while an officer is logged in: enroll a person (in
Bahasa Indonesia or English), the enrollments left unfinished (when each was begun, how
many of its steps are saved; Continue, or Delete asked once in the row itself), Log out.

Nothing personal shows here: an unfinished enrollment's steps are sealed, and the kiosk
cannot read them back; its row says only when it was begun and how far it got. The flow
(:mod:`kiosk.screens.flow_staff`) reads the list afresh each time the home shows.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from kivy.factory import Factory
from kivy.properties import BooleanProperty, ListProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from kiosk.core.vocabulary import LANGUAGES, STEPS
from kiosk.i18n import translate
from kiosk.screens.base import KioskScreen
from kiosk.screens.messages import N_, closed_summary

__all__ = ["MONTHS", "StaffRow", "StaffScreen", "begun_text", "saved_text"]

#: Under the reason on the home while no enrollment may begin.
NO_NEW_ENROLLMENT = N_("No enrollment can begin now; records can still go to a USB stick.")
#: The months as a row names them ("14:05, 3 Dec").
MONTHS: tuple[str, ...] = (
    N_("Jan"), N_("Feb"), N_("Mar"), N_("Apr"), N_("May"), N_("Jun"),
    N_("Jul"), N_("Aug"), N_("Sep"), N_("Oct"), N_("Nov"), N_("Dec"))


def begun_text(created_at: str, clock_trusted: bool, language: str, *,
               now: datetime | None = None) -> str:
    """When an unfinished enrollment was begun, in the kiosk's local time: "Begun 14:05,
    3 Dec" (with the year when not this year's), and "(time uncertain)" when the kiosk's
    clock was not trusted then (it may not have been set). ``created_at`` is the journal's
    UTC time (``2026-03-03T07:05:00.000Z``)."""
    try:
        when = datetime.fromisoformat(created_at.replace("Z", "+00:00")).astimezone()
    except (ValueError, TypeError, OverflowError):
        return translate(N_("Begun at an unknown time"), language)
    today = (now or datetime.now()).astimezone()
    day = f"{when.day} {translate(MONTHS[when.month - 1], language)}"
    if when.year != today.year:
        day += f" {when.year}"
    msgid = N_("Begun {when}") if clock_trusted else N_("Begun {when} (time uncertain)")
    return translate(msgid, language).format(when=f"{when:%H:%M}, {day}")


def saved_text(steps: Collection[str], language: str) -> str:
    """How many of the session's six journaled steps are saved: "3 of 6 steps saved"."""
    saved = sum(1 for step in STEPS if step in steps)
    return translate(N_("{saved} of {total} steps saved"), language).format(
        saved=saved, total=len(STEPS))


class StaffRow(BoxLayout):
    """One unfinished enrollment: when begun, steps saved, Continue and Delete; once Delete
    is tapped (``asked``), the question in its place with No and "Yes, delete"."""

    record_id = StringProperty("")
    begun = StringProperty("")
    saved = StringProperty("")
    asked = BooleanProperty(False)
    language = StringProperty(LANGUAGES[0])
    #: No enrollment may begin now: Continue is off, Delete still works.
    closed = BooleanProperty(False)


class StaffScreen(KioskScreen):
    #: The officer logged in (their staff id: not a citizen's data).
    staff_id = StringProperty("")
    #: What went wrong on the home (a record that could not be continued or deleted).
    message = StringProperty("")
    #: No unfinished enrollment to list (the empty-list line shows).
    empty = BooleanProperty(True)
    #: What the stick button did (the flow's ``usb_lines``): (text, kind) per line.
    usb_lines = ListProperty()
    #: Where the records stand (the flow's ``queue_lines``): (text, kind) per line.
    queue_lines = ListProperty()
    #: No enrollment may begin (the battery, the disk): why, and that the stick still works.
    closed = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        self._shown: tuple[object, ...] = ()
        super().__init__(**kwargs)

    def refresh(self, flow: Any) -> None:
        language = flow.language
        self.staff_id = flow.staff_id
        self.message = flow.staff_message.text(language) if flow.staff_message else ""
        self.usb_lines = self._lines(self.ids.usb, self.usb_lines, flow.usb_lines, language)
        self.queue_lines = self._lines(self.ids.queue, self.queue_lines, flow.queue_lines,
                                       language)
        self.closed = "" if flow.accepting else " ".join((
            translate(closed_summary(flow.closed_category), language),
            translate(NO_NEW_ENROLLMENT, language)))
        rows = tuple((r.record_id, begun_text(r.created_at, r.clock_trusted, language),
                      saved_text(r.steps, language)) for r in flow.resumable)
        self.empty = not rows
        shown = (rows, flow.discard_asked, language, bool(self.closed))
        if shown == self._shown:
            return
        self._shown = shown
        box = self.ids.rows
        box.clear_widgets()
        for record_id, begun, saved in rows:
            # Asked, a row is no taller than before: its question shows where its lines
            # were, beside the buttons, the Delete just tapped among them.
            box.add_widget(StaffRow(record_id=record_id, begun=begun, saved=saved,
                                    asked=record_id == flow.discard_asked,
                                    language=language, closed=bool(self.closed)))

    @staticmethod
    def _lines(box: Any, shown: list[Any], lines: list[Any], language: str) -> list[Any]:
        """Fill ``box`` with one note per message of ``lines`` (each in its own colour),
        unless it already shows them; return what it shows."""
        wanted = [(line.text(language), line.kind) for line in lines]
        if wanted != list(shown):
            box.clear_widgets()
            for text, kind in wanted:
                box.add_widget(Factory.Note(text=text, kind=kind))
        return wanted

    def wipe(self) -> None:
        self._shown = ()
        self.ids.rows.clear_widgets()
        self.usb_lines = []
        self.ids.usb.clear_widgets()
        self.queue_lines = []
        self.ids.queue.clear_widgets()

    def row_for(self, record_id: str) -> StaffRow | None:
        """The row of ``record_id`` (tests)."""
        return next((row for row in self.ids.rows.children if row.record_id == record_id),
                    None)
