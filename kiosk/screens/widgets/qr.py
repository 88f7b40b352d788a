"""A QR code of a string, drawn crisp: one texel per module, scaled with no smoothing."""

from __future__ import annotations

import logging
from typing import Any

from kivy.graphics.texture import Texture
from kivy.properties import NumericProperty, OptionProperty, StringProperty
from kivy.uix.image import Image

__all__ = ["QRCodeImage", "qr_modules"]

log = logging.getLogger(__name__)

#: The quiet zone the QR standard asks for around the symbol, in modules.
QUIET_ZONE = 4


def qr_modules(data: str, error: str = "m") -> list[list[bool]]:
    """The QR symbol of ``data`` with its 4-module quiet zone, top row first; True = dark."""
    # Imported here: segno brings urllib, http and email (its writers), 25 ms of the
    # touchscreen's start for a code first drawn on the receipt.
    import segno

    qr = segno.make_qr(data, error=error)
    return [[bool(v) for v in row] for row in qr.matrix_iter(scale=1, border=QUIET_ZONE)]


class QRCodeImage(Image):
    """Black-on-white QR code of ``data``; blank (no texture) when ``data`` is empty.

    The texture has one texel per module (quiet zone included) and ``nearest`` filtering,
    so any display size stays sharp; the image keeps its square aspect (``fit_mode``
    ``contain``). Data too long for a QR code logs an error and shows blank.

    Usage (a screen's ``.kv``)::

        QRCodeImage:
            data: root.receipt_id
            size_hint: None, None
            size: app.ui.mm(40), app.ui.mm(40)
    """

    #: The text to encode.
    data = StringProperty("")
    #: Error correction level: l, m, q or h (segno raises it when it costs no size).
    error = OptionProperty("m", options=["l", "m", "q", "h"])
    #: Modules across, quiet zone included (0 when blank).
    modules = NumericProperty(0)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("fit_mode", "contain")
        super().__init__(**kwargs)
        self.fbind("data", self._render)
        self.fbind("error", self._render)
        self._render()

    def _render(self, *_args: object) -> None:
        if not self.data:
            self.texture, self.modules = None, 0
            return
        from segno import DataOverflowError

        try:
            rows = qr_modules(self.data, self.error)
        except DataOverflowError:
            log.error("QR code: %d characters are too many for a QR code", len(self.data))
            self.texture, self.modules = None, 0
            return
        n = len(rows)
        # RGBA (4 bytes a texel: rows stay aligned); bottom row first, as textures go up.
        buf = bytearray()
        for row in reversed(rows):
            for dark in row:
                buf += b"\x00\x00\x00\xff" if dark else b"\xff\xff\xff\xff"
        texture = Texture.create(size=(n, n), colorfmt="rgba")
        texture.mag_filter = "nearest"
        texture.min_filter = "nearest"
        texture.blit_buffer(bytes(buf), colorfmt="rgba", bufferfmt="ubyte")
        self.texture, self.modules = texture, n
