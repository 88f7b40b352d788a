"""The ZFM driver's packet exchange: a command and its acknowledge, a data upload, over the line.

A command is sent whole and its acknowledge awaited for ``timeout_s``; packets of other ids
that arrive meanwhile (a late reply to an earlier try, a data packet left over) are stray
and skipped, and a reply from another module address is refused. A bad checksum, a timed-out
reply or a module that says it could not receive the command (0x01) re-sends the command,
up to ``retries`` times, after forgetting what arrived so far. ``UpImage``/``UpChar``: the
acknowledge, then data packets up to the end packet (0x08), each allowed the reply timeout
plus its own wire time at the line's speed; a transfer that breaks (bad checksum, stall,
wrong size) restarts from the command, up to ``image_retries`` times.

Raw command and acknowledge frames are logged at DEBUG on ``kiosk.wire.fingerprint``;
image and template data never are (biometrics), only their sizes, nor is the password.

:class:`PacketExchange` is mixed into :class:`~kiosk.hardware.fingerprint.zfm.ZfmFingerprint`,
which supplies the attributes declared below; a lost line (:class:`~kiosk.hardware.
fingerprint.zfm_link.LinkLost`) passes through to the driver, which reconnects.
"""

from __future__ import annotations

import logging
import time

from kiosk.errors import DeviceError, DeviceProtocolError, DeviceTimeout
from kiosk.hardware.fingerprint import zfm_protocol as zp
from kiosk.hardware.fingerprint.zfm_link import SerialLink

__all__ = ["PacketExchange"]

log = logging.getLogger("kiosk.hardware.fingerprint.zfm")  # one logger for the driver's lines
wire = logging.getLogger("kiosk.wire.fingerprint")


class PacketExchange:
    """The packet exchange of the ZFM driver (see the module docstring)."""

    # supplied by the ZfmFingerprint
    port: str
    baudrate: int
    address: int
    packet_size: int
    timeout_s: float
    retries: int
    image_retries: int
    _link: SerialLink
    _parser: zp.PacketParser

    def _send(self, frame: bytes, what: str) -> None:
        if wire.isEnabledFor(logging.DEBUG):
            shown = frame.hex(" ") if what != "VfyPwd" else frame[:10].hex(" ") + " (password)"
            wire.debug("-> %s %s", what, shown)
        self._link.write(frame)

    def _read_packet(self, accept: frozenset[int], deadline: float, what: str) -> zp.Packet:
        """The next packet whose id is in ``accept``; others are stray and skipped."""
        parser = self._parser
        while True:
            skipped = parser.skipped
            try:
                pkt = parser.next_packet()
            finally:
                if parser.skipped != skipped:
                    wire.debug("<- %d garbage bytes skipped", parser.skipped - skipped)
            if pkt is not None:
                if pkt.pid in (zp.PID_DATA, zp.PID_END):
                    wire.debug("<- data packet 0x%02x, %d bytes", pkt.pid, len(pkt.payload))
                else:
                    wire.debug("<- %s", zp.encode_packet(pkt.pid, pkt.payload, pkt.address
                                                         ).hex(" "))
                if pkt.address != self.address:
                    raise DeviceProtocolError(f"a reply from address {pkt.address:#010x}; "
                                              f"configured {self.address:#010x}")
                if pkt.pid in accept:
                    return pkt
                wire.debug("<- stray packet id 0x%02x skipped while waiting for %s",
                           pkt.pid, what)
                continue
            if time.monotonic() >= deadline:
                raise DeviceTimeout(f"fingerprint sensor on {self.port} did not answer {what} "
                                    f"in time")
            parser.feed(self._link.read_some())

    def _resync(self) -> None:
        """Forget what was received so far, before a command is sent again."""
        self._parser.clear()
        self._link.discard_input()

    def _transact(self, instruction: int, params: bytes = b"") -> zp.Packet:
        """Send a command and return its ack; re-send after a bad checksum or a timeout."""
        what = _NAMES.get(instruction, f"0x{instruction:02x}")
        frame = zp.command(instruction, params, self.address)
        last: DeviceError = DeviceTimeout(f"{what}: no try made")
        for attempt in range(self.retries + 1):
            if attempt:
                log.info("fingerprint %s: try %d after %s", what, attempt + 1, last)
                self._resync()
            self._send(frame, what)
            try:
                pkt = self._read_packet(frozenset({zp.PID_ACK}),
                                        time.monotonic() + self.timeout_s, what)
                if not pkt.payload:
                    raise DeviceProtocolError(f"{what}: an acknowledge without a confirmation "
                                              f"code")
            except zp.ChecksumMismatch as exc:
                last = DeviceProtocolError(f"{what}: {exc}")
                continue
            except (DeviceTimeout, DeviceProtocolError) as exc:
                last = exc
                continue
            if pkt.code == zp.ERR_RECEIVE:  # the module saw our packet garbled: send again
                last = DeviceProtocolError(f"{what}: the sensor could not receive the command")
                continue
            return pkt
        raise type(last)(f"{last} (after {self.retries + 1} tries)") from last

    def _upload(self, instruction: int, params: bytes, *, exact: int = 0,
                max_bytes: int = zp.IMAGE_BYTES) -> bytes:
        """UpImage/UpChar: the ack, then data packets up to the end packet. A broken
        transfer (bad checksum, stall, wrong size) is restarted from the command."""
        what = _NAMES.get(instruction, f"0x{instruction:02x}")
        limit = exact or max_bytes
        # A data packet's own wire time, on top of the reply timeout (slow baud rates).
        per_packet = self.timeout_s + (self.packet_size + zp.OVERHEAD) * 10 / self.baudrate
        last: DeviceError = DeviceTimeout(f"{what}: no try made")
        for attempt in range(self.image_retries + 1):
            if attempt:
                log.warning("fingerprint %s restarted (try %d) after: %s", what, attempt + 1,
                            last)
                self._resync()
            pkt = self._transact(instruction, params)
            if pkt.code != zp.OK:
                last = DeviceProtocolError(f"{what} answered 0x{pkt.code:02x} "
                                           f"({zp.CONFIRMATION_TEXT.get(pkt.code, 'unknown')})")
                continue
            data = bytearray()
            try:
                while True:
                    pkt = self._read_packet(frozenset({zp.PID_DATA, zp.PID_END}),
                                            time.monotonic() + per_packet, f"{what} data")
                    data += pkt.payload
                    if len(data) > limit:
                        raise DeviceProtocolError(f"{what}: more than {limit} bytes of data")
                    if pkt.pid == zp.PID_END:
                        break
                if exact and len(data) != exact:
                    raise DeviceProtocolError(f"{what}: {len(data)} bytes of data; expected "
                                              f"{exact}")
                return bytes(data)
            except zp.ChecksumMismatch as exc:
                last = DeviceProtocolError(f"{what}: {exc}")
            except DeviceTimeout as exc:
                last = DeviceTimeout(f"{what}: the sensor stopped sending after "
                                     f"{len(data)} bytes ({exc})")
            except DeviceProtocolError as exc:
                last = exc
        raise type(last)(f"{last} (after {self.image_retries + 1} tries)") from last


_NAMES = {zp.GEN_IMG: "GenImg", zp.IMG2TZ: "Img2Tz", zp.UP_CHAR: "UpChar",
          zp.UP_IMAGE: "UpImage", zp.DOWN_CHAR: "DownChar", zp.MATCH: "Match",
          zp.READ_SYS_PARA: "ReadSysPara", zp.VFY_PWD: "VfyPwd",
          zp.AURA_LED_CONFIG: "AuraLedConfig"}
