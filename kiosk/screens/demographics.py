"""Demographics: what the NIK says (shown, not typed), the family-card fields typed on the
on-screen keyboard, and pickers for the fixed lists and the kecamatan and kelurahan/desa
of the family card's regency (the No. KK's code; names from the Kemendagri dataset)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kivy.animation import Animation
from kivy.app import App
from kivy.clock import Clock
from kivy.properties import (
    BooleanProperty,
    DictProperty,
    ListProperty,
    NumericProperty,
    StringProperty,
)
from kivy.uix.label import Label
from kivy.uix.widget import Widget
from kivy.utils import escape_markup, get_hex_from_color

from kiosk.screens.base import KioskScreen
from kiosk.screens.forms import (
    CHOICE_FIELDS,
    LAYOUT_CHARS,
    PICKER_FIELDS,
    ROW_OF_PART,
    TEXT_FIELDS,
)
from kiosk.screens.memory import release_label_textures
from kiosk.screens.theme import MIN_TARGET_MM, Theme
from kiosk.screens.widgets import PickerPopup

#: A stretch of the page, (top, bottom) in px down from the page's top.
Span = tuple[float, float]

#: How far into a text (px) an edge may run and the text still count as whole: rounding.
EDGE_SLACK = 1.0


#: Keyboard rows (:class:`~kiosk.screens.widgets.TextKeyboard`) and the room (mm) a taller
#: panel keeps for the field before its keys grow past 10.5 mm (up to 16 mm).
KEY_ROWS_SHOWN = 4
FIELD_RESERVE_MM = 45.0
KEY_MAX_MM = 16.0


def typing_key(ui: Theme, room: float, need: float) -> float:
    """The height (px) of a keyboard key on the keyboard's page: ``app.ui.key`` (10.5 mm),
    more on a taller panel while :data:`FIELD_RESERVE_MM` stay for the field, and less,
    down to the 10 mm touch target, while the field needs ``need`` px of the ``room`` the
    field and the keys share (a long value, the power-cut banner up).

    >>> ui = Theme(px_per_mm=5.0)
    >>> typing_key(ui, 400, 100), typing_key(ui, 400, 180), typing_key(ui, 400, 300)
    (52.5, 51.25, 50.0)
    >>> typing_key(ui, 700, 100)
    80.0
    """
    gaps = (KEY_ROWS_SHOWN - 1) * ui.mm(1)
    comfortable = max(ui.key, min(ui.mm(KEY_MAX_MM),
                                  (room - gaps - ui.mm(FIELD_RESERVE_MM)) / KEY_ROWS_SHOWN))
    fitting = (room - gaps - need) / KEY_ROWS_SHOWN
    return max(ui.mm(MIN_TARGET_MM), min(comfortable, fitting))


def typing_markup(label: str, value: str, soft: tuple[float, ...], full: str = "") -> str:
    """The keyboard page's field in one label: its name in ``soft`` ink, then the value in
    bold with the caret, wrapping under the name (the value has the whole width). A field
    at its limit says ``full`` after the value instead of the caret (no line of its own:
    a 100-character name takes four of the 7-inch panel's four lines).

    >>> typing_markup("Full name", "A[B]", (0, 0, 0, 1))
    '[color=000000ff]Full name[/color]  [b]A&bl;B&br;_[/b]'
    >>> typing_markup("RT", "123", (0, 0, 0, 1), "(full)")
    '[color=000000ff]RT[/color]  [b]123[/b]  [color=000000ff](full)[/color]'
    """
    colour = get_hex_from_color(soft)[1:]
    shown = f"[color={colour}]{escape_markup(label)}[/color]  [b]{escape_markup(value)}"
    if full:
        return f"{shown}[/b]  [color={colour}]{escape_markup(full)}[/color]"
    return f"{shown}_[/b]"


def whole_lines(room: float, line: float) -> float:
    """The height (px) of as many whole ``line`` px lines as ``room`` holds (at least one):
    a field too tall for its room shows whole lines, none cut through.

    >>> whole_lines(175, 40), whole_lines(20, 40)
    (160, 40)
    """
    return max(1, int(room // line)) * line


def summary_note(message: str, errors: Mapping[str, str]) -> str:
    """The note shown at the top of the page: the flow's message, unless it is a field's
    own, already shown under that field (the page scrolls there; a copy at the top was
    left half under the title bar)."""
    return "" if message in errors.values() else message


def scroll_stop(texts: Iterable[Span], target: Span, top: float, page: float,
                view: float) -> Span:
    """The stretch of a ``page`` px tall to show in a scroll view of ``view`` px, the page
    now shown from ``top``: ``target`` wholly in it (moved to as little as needed), and no
    edge through any of ``texts`` (a line half under a bar). The view's top edge moves down
    past a text it cuts; its bottom edge moves up above one, the view then shorter than
    ``view`` (blank under it). A target taller than the view is shown from its top."""
    texts = list(texts)

    def cut(edge: float) -> list[Span]:
        return [(a, b) for a, b in texts if a + EDGE_SLACK < edge < b - EDGE_SLACK]

    if page <= view:
        return 0.0, page
    t0, t1 = target
    lowest = page - view
    if t1 - t0 >= view or t0 < top:
        start = t0
    elif t1 > top + view:
        start = t1 - view
    else:
        start = top
    start = min(max(start, 0.0), lowest)
    while spans := cut(start):
        below = max(b for _a, b in spans)
        if below > t0 + EDGE_SLACK:  # the target's own text: shown from its top instead
            break
        start = below
    end = min(start + view, page)
    while spans := cut(end):
        above = min(a for a, _b in spans)
        if above < t1 - EDGE_SLACK:
            break
        end = above
    return start, end


class DemographicsScreen(KioskScreen):
    facts = ListProperty()  # [(label, value)] from the NIK
    kk_facts = ListProperty()  # [(label, value)]: the family card's regency
    values = DictProperty()
    errors = DictProperty()  # field -> message in the citizen's language
    focus = StringProperty("")
    note = StringProperty("")
    note_kind = StringProperty("info")  # the Note's colour: the message's kind
    chips = DictProperty()  # field -> [(value, label)]
    typing_value = StringProperty("")
    #: The keyboard page's field: label and value (:func:`typing_markup`).
    typing_text = StringProperty("")
    #: Under the field: its problem, or that it holds all it takes (info).
    typing_error = StringProperty("")
    typing_error_kind = StringProperty("error")
    #: RT and RW: the numeric keypad instead of the keyboard.
    typing_digits = BooleanProperty(False)
    #: The characters the field takes (the keyboard's other keys are off); "" all.
    typing_allowed = StringProperty("")
    #: The keyboard's key height (px), from :func:`typing_key` in the ``.kv``.
    typing_key = NumericProperty(0)

    #: Seconds the form takes to scroll to a problem: quick, but seen to move (the citizen
    #: sees where the page went, not a page that jumped).
    SCROLL_S = 0.25

    def __init__(self, **kwargs: Any) -> None:
        self._picker: PickerPopup | None = None  # the list open over the form, if any
        self._problems_seen: int | None = None  # the flow's problems_shown last brought up
        super().__init__(**kwargs)

    def refresh(self, flow: Any) -> None:
        # Rows are set from here, not bound in kv: kv does not follow `dict.get(...)` on a
        # DictProperty, nor a dynamic class's list default.
        lang = flow.language
        self.facts = [(flow.t(label), value) for label, value in flow.nik_facts()]
        self.kk_facts = [(flow.t(label), value) for label, value in flow.kk_facts()]
        self.values = dict(flow.form.values)
        self.errors = {k: v.text(lang) for k, v in flow.form.errors.items()}
        self.focus = flow.form.focus or ""
        self.note = summary_note(flow.message.text(lang) if flow.message else "",
                                 self.errors)
        self.note_kind = flow.message.kind if flow.message else "info"
        self.typing_value = self.values.get(self.focus, "")
        note = flow.form.typing_note()
        self.typing_error, self.typing_error_kind = note.text(lang), note.kind
        if self.focus in TEXT_FIELDS:
            label, layout, _limit = TEXT_FIELDS[self.focus]
            soft = App.get_running_app().ui.ink_soft
            full = flow.form.limit_note().text(lang)
            self.typing_text = typing_markup(flow.t(label), self.typing_value, soft, full)
            self.typing_digits = layout == "digits"
            self.typing_allowed = LAYOUT_CHARS[layout]
        elif self.typing_text:
            self.typing_text = ""
            # An emptied label keeps the last value's pixels (Kivy's core label reuses a
            # texture of the same size, refilled only when next drawn): dropped now.
            release_label_textures(self.ids.typing_value)
        self.ids.typing_scroll.scroll_y = 0  # a value longer than its box: its end, typed
        values, errors, ids = self.values, self.errors, self.ids
        for name in ("full_name", "place_of_birth", "address"):
            ids[name].value, ids[name].error = values[name], errors.get(name, "")
        ids.rt.value = f"{values['rt']} / {values['rw']}"
        ids.rt.error = errors.get("rt", "") or errors.get("rw", "")
        choose = flow.t("Choose")
        for name in ("kecamatan", "kelurahan_desa", "occupation"):
            ids[name].value = self.display(name) or choose
            ids[name].error = errors.get(name, "")
        chips = {name: flow.choice_options(name) for name in CHOICE_FIELDS}
        if chips != self.chips:  # rebuilding chips on every key would cost frames
            self.chips = chips
            for name, options in chips.items():
                ids[name].options = options
        for name in CHOICE_FIELDS:
            ids[name].selected, ids[name].error = values[name], errors.get(name, "")
        if self._problems_seen != flow.problems_shown:
            # Next was refused: the first problem may be off the 7-inch panel's page (the
            # name's row, with the citizen scrolled down to the chips). Scrolled to once
            # the messages are laid out (the rows grow by them), the next frame.
            first = ROW_OF_PART.get(flow.form.first_problem() or "")
            if self._problems_seen is not None:
                Clock.schedule_once(lambda _dt: self.show_problem(first), 0)
            self._problems_seen = flow.problems_shown

    def show_problem(self, row: str | None) -> None:
        """Scroll the form so that ``row`` (an id in it) and the message under it are in
        view; None: to the top, where the message of a problem of no row is. No text is
        left half under the title bar or the nav bar (:func:`scroll_stop`): a blank under
        the page takes the place of a line it would cut."""
        scroll, rows, trim = self.ids.scroll, self.ids.rows, self.ids.trim_bottom
        view = scroll.height + trim.height  # the room, without a blank kept before
        page = rows.height
        top = (1.0 - scroll.scroll_y) * max(0.0, page - scroll.height)
        target = self._span(self.ids[row]) if row is not None else (0.0, 0.0)
        start, end = scroll_stop(self._texts(), target, top, page, view)
        shown = end - start
        trim.height = max(0.0, view - shown)
        Animation.stop_all(scroll, "scroll_y")
        goal = 1.0 if page <= shown else 1.0 - start / (page - shown)
        Animation(scroll_y=goal, d=self.SCROLL_S, t="out_quad").start(scroll)

    def _span(self, widget: Widget, height: float | None = None) -> Span:
        """Where ``widget`` is on the page (its middle ``height`` px when given)."""
        rows = self.ids.rows
        page_top = rows.to_window(rows.x, rows.top)[1]
        middle = widget.to_window(widget.center_x, widget.center_y)[1]
        half = (widget.height if height is None else height) / 2
        return page_top - middle - half, page_top - middle + half

    def _texts(self) -> list[Span]:
        """Where each text shown on the page is (its rendered lines, not its box)."""
        rows = self.ids.rows.__self__  # the widget, not kv's proxy of it (``is`` below)
        found = []
        for widget in rows.walk(restrict=True):
            if not isinstance(widget, Label) or not widget.text:
                continue
            shown, w = True, widget
            while w is not None and w is not rows:
                if w.opacity <= 0 or w.height < 1:
                    shown = False
                    break
                w = w.parent
            if shown:
                found.append(self._span(widget, min(widget.texture_size[1], widget.height)))
        return found

    def key_for(self, name: str) -> Widget:
        """The key typing ``name`` (a character, ``" "``, ``"backspace"``, ``"action"``) on
        what the keyboard page shows: the numeric keypad for RT and RW, else the keyboard
        (the touch tests type through it)."""
        return (self.ids.keypad if self.typing_digits else self.ids.keyboard).key_for(name)

    @staticmethod
    def label(name: str) -> str:
        if name in TEXT_FIELDS:
            return TEXT_FIELDS[name][0]
        if name in CHOICE_FIELDS:
            return CHOICE_FIELDS[name][0]
        return PICKER_FIELDS[name]

    def pick(self, name: str) -> None:
        """Open the list for a picker field; the choice goes to the flow."""
        flow = App.get_running_app().flow
        flow.touch()
        options = flow.picker_options(name)
        if not options:
            return
        self._picker = PickerPopup()
        self._picker.open_with(flow.t(self.label(name)), options,
                               lambda value: flow.form_choose(name, value))

    def on_pre_enter(self, *args: object) -> None:
        super().on_pre_enter(*args)
        # The page opens at its top (what the NIK says, then the name), for the next
        # citizen and for a Change from review: it stayed where the last visit left it,
        # often down at the village list.
        scroll = self.ids.scroll
        Animation.stop_all(scroll, "scroll_y")
        scroll.scroll_y = 1.0
        self.ids.trim_bottom.height = 0  # the whole room again

    def on_deactivate(self) -> None:
        self._close_picker()

    def wipe(self) -> None:
        # A list left open when the citizen walked away (the idle wipe) or the session
        # ended: closed, or it would cover the welcome the next citizen sees.
        self._close_picker()

    def _close_picker(self) -> None:
        picker, self._picker = self._picker, None
        if picker is not None:
            picker.cancel()  # nothing chosen; nothing if already closed

    def display(self, name: str) -> str:
        """A picker or chip field's value as shown (translated label, or the name)."""
        value = self.values.get(name, "")
        flow = App.get_running_app().flow
        if not value:
            return ""
        if name == "occupation":
            return dict(flow.picker_options("occupation")).get(value, value)
        return value
