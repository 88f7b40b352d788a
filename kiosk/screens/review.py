"""Review: everything on one scrolling page (photo and signature as thumbnails, fingers as
ticks, a finger an officer recorded as impossible to scan with its reason), a Change
button for each part, and Confirm, which seals the record."""

from __future__ import annotations

from typing import Any

from kivy.factory import Factory
from kivy.properties import ListProperty, ObjectProperty, StringProperty

from kiosk.core.vocabulary import FINGERS
from kiosk.screens.base import KioskScreen
from kiosk.screens.flow_screens import FINGER_NAMES
from kiosk.screens.flow_staff import MISSING_REASON_NAMES
from kiosk.screens.forms import (
    CHOICE_FIELDS,
    OCCUPATIONS,
    group_digits,
)
from kiosk.screens.images import texture_from_bytes
from kiosk.screens.messages import N_

#: A step of a resumed enrollment journaled before (the kiosk cannot read it back).
KEPT_FROM_BEFORE = N_("Saved earlier: not shown here.")


class ReviewScreen(KioskScreen):
    identity = ListProperty()  # [(label, value)]
    details = ListProperty()
    fingers = StringProperty("")
    note = StringProperty("")
    portrait = ObjectProperty(None, allownone=True)
    signature = ObjectProperty(None, allownone=True)
    #: In place of a thumbnail saved before a resume (the kiosk cannot read it back): the
    #: line that says so ("" when the thumbnail shows).
    portrait_kept = StringProperty("")
    signature_kept = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        self._images: tuple[bytes, bytes] = (b"", b"")
        super().__init__(**kwargs)

    def refresh(self, flow: Any) -> None:
        self.note = flow.message.text(flow.language) if flow.message else ""
        summary = flow.summary
        if summary is None:
            self.wipe()
            return
        t = flow.t
        self.identity = [("NIK", group_digits(summary.nik.digits)),
                         (t(N_("No. KK")), group_digits(summary.kk.digits))]
        d = summary.demographics
        rows: list[tuple[str, str]] = []
        if d is not None:
            def label(field: str, value: str) -> str:
                return t(CHOICE_FIELDS[field][1].get(value, value))

            rows = [
                (t(N_("Full name")), d.full_name),
                (t(N_("Place of birth")), d.place_of_birth),
                (t(N_("Date of birth")), d.date_of_birth.strftime("%d-%m-%Y")),
                (t(N_("Sex")), t(N_("Female") if d.sex == "F" else N_("Male"))),
                (t(N_("Address")), d.address),
                ("RT / RW", f"{d.rt} / {d.rw}"),
                (t(N_("Village")), d.kelurahan_desa),
                (t(N_("Kecamatan")), d.kecamatan),
                (t(N_("Religion")), label("religion", d.religion)),
                (t(N_("Marital status")), label("marital_status", d.marital_status)),
                (t(N_("Blood type")), label("blood_type", d.blood_type)),
                (t(N_("Occupation")), t(OCCUPATIONS.get(d.occupation, d.occupation))),
                (t(N_("Citizenship")), label("citizenship", d.citizenship)),
            ]
        if d is None:  # a resumed enrollment's details, saved before: sealed, unreadable
            rows = [(t(KEPT_FROM_BEFORE), "")]
        self.details = rows
        captured = set(summary.fingers_captured or ())
        missing = dict(summary.fingers_missing or {})

        def finger_line(code: str) -> str:
            name = t(FINGER_NAMES[code])
            if code in captured:
                return f"[OK] {name}"
            if code in missing:  # recorded by an officer, with the reason
                reason = MISSING_REASON_NAMES.get(missing[code], missing[code])
                return f"[X] {name} \N{EN DASH} {t(reason)}"
            return f"[--] {name}"

        self.fingers = ("\n".join(finger_line(code) for code in FINGERS)
                        if summary.fingers_captured is not None else t(KEPT_FROM_BEFORE))
        self.portrait_kept = t(KEPT_FROM_BEFORE) if summary.portrait_jpeg is None else ""
        self.signature_kept = t(KEPT_FROM_BEFORE) if summary.signature_png is None else ""
        images = (summary.portrait_jpeg or b"", summary.signature_png or b"")
        if images != self._images:  # decode once, not on every refresh
            self._images = images
            self.portrait = texture_from_bytes(images[0], "jpg")
            self.signature = texture_from_bytes(images[1], "png")

    def fill(self, box: Any, rows: list[tuple[str, str]]) -> None:
        """One line "label: value" per row (rebuilt when the rows change)."""
        box.clear_widgets()
        for label, value in rows:
            box.add_widget(Factory.Body(text=f"{label}: {value}" if value else label))

    def on_deactivate(self) -> None:
        # The receipt or a step to change shows next: the photo and the signature are not
        # kept as textures meanwhile (a return decodes them again from the summary). The
        # rows stay, and with them where the citizen had scrolled to.
        self._release_images()

    def wipe(self) -> None:
        self.identity, self.details, self.fingers = [], [], ""
        self.portrait_kept = self.signature_kept = ""
        self._release_images()

    def _release_images(self) -> None:
        self.portrait = self.signature = None
        self._images = (b"", b"")

