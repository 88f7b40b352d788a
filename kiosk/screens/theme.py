"""Sizes in millimetres of the panel and the one colour theme (no Kivy here).

Everything a citizen reads or touches is sized in millimetres of the physical panel
(``[ui] panel_mm``), not in pixels, so the 7-inch 800x480 display and a 10-inch 1280x800
one both get:

* touch targets at least 10 mm (common touch guidance; WCAG 2.5.5 asks 44 CSS px, about
  11.6 mm, which the big buttons here meet);
* text whose capital letters are at least 4.8 mm high (ADA 707.7.2 measures the uppercase
  "I"); Kivy's ``font_size`` is the em size, and Roboto's capitals are 0.711 em high
  (capHeight 1456 of 2048 units), so body text is 4.8 / 0.711 = 6.75 mm;
* text contrast of at least 7:1 (WCAG 1.4.6, level AAA), checked for every pair below by
  :func:`contrast_ratio` in the tests.

The app builds one :class:`Theme` for the window and replaces it when the window changes
size; ``.kv`` rules read ``app.ui.<name>`` and so follow it.

>>> t = Theme.for_window((800, 480), (155.0, 86.0))
>>> round(t.px_per_mm, 2), round(t.target)
(5.16, 62)
"""

from __future__ import annotations

from dataclasses import dataclass, field

Colour = tuple[float, float, float, float]

#: Roboto's capital height as a share of its em size (hhea/OS2 capHeight 1456 / 2048).
ROBOTO_CAP_HEIGHT = 1456 / 2048
#: ADA 707.7.2: characters at least 3/16 inch (4.8 mm), measured on the uppercase "I".
MIN_CAP_MM = 4.8
#: The one text not for the citizen (:attr:`Theme.font_detail`): smaller, still read at
#: arm's length by the officer who reads it out to a maintainer.
DETAIL_CAP_MM = 3.0
#: Common touch guidance for people with large fingers and no stylus.
MIN_TARGET_MM = 10.0
#: WCAG 1.4.6 (AAA) contrast for body text.
MIN_CONTRAST = 7.0


def _rgb(hex_colour: str) -> Colour:
    value = hex_colour.lstrip("#")
    r, g, b = (int(value[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return (r, g, b, 1.0)


# The palette: dark ink on white paper; the e-KTP red for the title bar; a deep blue for
# the buttons that move forward; amber only for the power-cut banner (with dark ink).
PALETTE: dict[str, Colour] = {
    "paper": _rgb("#FFFFFF"),
    "panel": _rgb("#EEF1F6"),       # a card or a field on the paper
    "ink": _rgb("#111418"),
    "ink_soft": _rgb("#2E3440"),    # secondary text: still 7:1 on paper and panel
    "title_bg": _rgb("#8E0B14"),    # e-KTP red
    "title_ink": _rgb("#FFFFFF"),
    "primary_bg": _rgb("#0B3D91"),
    "primary_ink": _rgb("#FFFFFF"),
    "secondary_bg": _rgb("#DCE3EE"),
    "secondary_ink": _rgb("#0A2A66"),
    "danger_bg": _rgb("#8E0B14"),
    "danger_ink": _rgb("#FFFFFF"),
    "error_ink": _rgb("#8A0010"),   # messages under a field
    "ok_ink": _rgb("#0B5A1E"),
    "banner_bg": _rgb("#F2A516"),
    "banner_ink": _rgb("#1A1200"),
    "overlay_bg": _rgb("#FFFFFF"),
    # Around the idle warning: opaque, so the walked-away citizen's data is not readable
    # (behind a 60 % dimming it was) while the countdown runs.
    "veil": _rgb("#1B1F27"),
    "key_bg": _rgb("#DCE3EE"),
    "key_ink": _rgb("#0A1A33"),
    "disabled_bg": _rgb("#C9CED6"),
    "disabled_ink": _rgb("#2B2F36"),
    "highlight": _rgb("#F2A516"),   # the finger to place, the focused field's frame
    "done": _rgb("#0B7A2A"),
}

#: Every (text, background) pair the screens use; each must reach :data:`MIN_CONTRAST`.
TEXT_PAIRS: tuple[tuple[str, str], ...] = (
    ("ink", "paper"), ("ink", "panel"), ("ink_soft", "paper"), ("ink_soft", "panel"),
    ("title_ink", "title_bg"), ("primary_ink", "primary_bg"),
    ("secondary_ink", "secondary_bg"), ("danger_ink", "danger_bg"),
    ("error_ink", "paper"), ("error_ink", "panel"), ("ok_ink", "paper"), ("ok_ink", "panel"),
    ("banner_ink", "banner_bg"), ("key_ink", "key_bg"), ("disabled_ink", "disabled_bg"),
    ("ink", "overlay_bg"),
)


def _linear(channel: float) -> float:
    return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: Colour) -> float:
    """WCAG 2 relative luminance of an sRGB colour (alpha ignored)."""
    r, g, b = (_linear(c) for c in colour[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: Colour, b: Colour) -> float:
    """WCAG 2 contrast ratio, from 1 (same) to 21 (black on white)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@dataclass(frozen=True)
class Theme:
    """Pixel sizes for one window on one panel, and the palette as attributes.

    ``px_per_mm`` is the smaller of the two axes' densities, so a size in millimetres is
    never drawn smaller than asked on either axis.
    """

    px_per_mm: float
    colours: dict[str, Colour] = field(default_factory=lambda: dict(PALETTE))

    @classmethod
    def for_window(cls, size_px: tuple[float, float], panel_mm: tuple[float, float]
                   ) -> Theme:
        width, height = size_px
        return cls(px_per_mm=min(width / panel_mm[0], height / panel_mm[1]))

    def mm(self, millimetres: float) -> float:
        """``millimetres`` of the panel in pixels."""
        return millimetres * self.px_per_mm

    def font_for_cap(self, cap_mm: float) -> float:
        """The Kivy ``font_size`` (px) whose capital letters are ``cap_mm`` high."""
        return self.mm(cap_mm) / ROBOTO_CAP_HEIGHT

    # -- text --------------------------------------------------------------------------
    @property
    def font_body(self) -> float:
        """Body text: capitals 4.8 mm, the minimum for anything a citizen must read."""
        return self.font_for_cap(MIN_CAP_MM)

    @property
    def font_detail(self) -> float:
        """The closed screen's technical detail for the maintainer (the check's English
        reason), the only text below :attr:`font_body`: not for the citizen, and set apart
        from what is (capitals 3 mm)."""
        return self.font_for_cap(DETAIL_CAP_MM)

    @property
    def font_title(self) -> float:
        return self.font_for_cap(6.0)

    @property
    def font_big(self) -> float:
        """Typed numbers and the receipt number: read back at a glance."""
        return self.font_for_cap(6.5)

    # -- touch -------------------------------------------------------------------------
    @property
    def target(self) -> float:
        """Height of a button: 12 mm, above the 10 mm minimum."""
        return self.mm(12.0)

    @property
    def key(self) -> float:
        """Height of a keyboard key: 10.5 mm (keys sit 1 mm apart)."""
        return self.mm(10.5)

    @property
    def gap(self) -> float:
        """Space between targets (8-10 mm between centres is the guidance)."""
        return self.mm(1.5)

    @property
    def pad(self) -> float:
        return self.mm(3.0)

    @property
    def bar(self) -> float:
        """Height of the title bar."""
        return self.mm(11.0)

    def __getattr__(self, name: str) -> Colour:
        colours = self.__dict__.get("colours", {})
        if name in colours:
            return colours[name]
        raise AttributeError(name)
