"""The ZFM driver's template commands: telling one finger from another on the module.

After :meth:`~kiosk.hardware.fingerprint.zfm.ZfmFingerprint.capture` the module still holds
the image in its image buffer, so a template costs two commands: ``Img2Tz`` (0x02, called
GenChar in some manuals) into CharBuffer 1, then ``UpChar`` (0x08) to bring its 512 bytes to
the host. Comparing a new finger with those already taken downloads the new one into
CharBuffer 1 once (``DownChar``, 0x09: an ack, then the host's data packets, which the
module does not acknowledge) and each earlier one in turn into CharBuffer 2, each followed by
``Match`` (0x03), whose confirmation is 0x00 (the same finger) or 0x08 (not) and whose two
parameter bytes are the score; the threshold is the module's security level.

Why not the module's own library (``Store``, ``Search``): that writes fingerprints into the
sensor's flash, where they would outlive the session (a power cut, a kiosk carried off) and
wear the flash, one citizen after another. Here they live in the session's memory only. The
cost is wire time: about 0.1 s per earlier finger at 57600 baud (512 bytes in four data
packets, plus the Match), 0.9 s at most for the tenth finger.

Template bytes are biometric data: the data packets are never logged (only their count).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from kiosk.errors import DeviceProtocolError
from kiosk.hardware.fingerprint import zfm_protocol as zp
from kiosk.hardware.fingerprint.zfm_link import SerialLink

__all__ = ["TemplateCommands"]

wire = logging.getLogger("kiosk.wire.fingerprint")


class _Driver(Protocol):
    """What the template commands use of the driver they are mixed into (described here,
    not imported: :mod:`~kiosk.hardware.fingerprint.zfm` imports this module)."""

    address: int
    packet_size: int
    _link: SerialLink

    def _exclusive(self, what: str = ...) -> AbstractContextManager[None]: ...
    def _img2tz(self, buffer_id: int) -> None: ...
    def _transact(self, instruction: int, params: bytes = ...) -> zp.Packet: ...
    def _upload(self, instruction: int, params: bytes, *, exact: int = ...,
                max_bytes: int = ...) -> bytes: ...
    def _with_reconnect(self, action: Any) -> Any: ...
    def _download(self, buffer_id: int, data: bytes) -> None: ...


class TemplateCommands:
    """Mixin of :class:`~kiosk.hardware.fingerprint.zfm.ZfmFingerprint` (see the module)."""

    def extract_template(self: _Driver) -> bytes:
        """Img2Tz into CharBuffer 1, then UpChar: the template of the last captured image.

        Raises CaptureRejected when the module finds too few features (or no image: the
        module was power-cycled since the capture).
        """
        with self._exclusive("feature extraction"):
            def action() -> bytes:
                self._img2tz(1)
                return self._upload(zp.UP_CHAR, b"\x01", exact=zp.TEMPLATE_BYTES)
            return self._with_reconnect(action)

    def find_match(self: _Driver, probe: bytes, enrolled: Sequence[bytes]) -> int | None:
        """DownChar ``probe`` into buffer 1, then each of ``enrolled`` into buffer 2 and
        Match: the index of the first the module judges the same finger, or None."""
        for template in (probe, *enrolled):
            if len(template) != zp.TEMPLATE_BYTES:
                raise ValueError(f"a ZFM template is {zp.TEMPLATE_BYTES} bytes, not "
                                 f"{len(template)}")
        if not enrolled:
            return None
        with self._exclusive("template match"):
            def action() -> int | None:
                self._download(1, probe)
                for index, template in enumerate(enrolled):
                    self._download(2, template)
                    pkt = self._transact(zp.MATCH)
                    if pkt.code == zp.OK:
                        return index
                    if pkt.code != zp.NO_MATCH:
                        raise DeviceProtocolError(f"Match answered 0x{pkt.code:02x}")
                return None
            # A reconnect empties both buffers: the whole comparison starts again.
            return self._with_reconnect(action)

    def _download(self: _Driver, buffer_id: int, data: bytes) -> None:
        """DownChar: the ack, then ``data`` in data packets closed by an end packet."""
        pkt = self._transact(zp.DOWN_CHAR, bytes([buffer_id]))
        if pkt.code != zp.OK:
            raise DeviceProtocolError(f"DownChar answered 0x{pkt.code:02x} "
                                      f"({zp.CONFIRMATION_TEXT.get(pkt.code, 'unknown')})")
        frames = zp.data_packets(data, self.packet_size, self.address)
        wire.debug("-> DownChar data: %d packets (not shown)", len(frames))
        for frame in frames:
            self._link.write(frame)
