"""The real fingerprint backend: a ZhianTec ZFM sensor (R307, R503, AS608) on a UART.

Transport (:class:`~kiosk.hardware.fingerprint.zfm_link.SerialLink`, pyserial, and the
reconnect backoff, in :mod:`~kiosk.hardware.fingerprint.zfm_link`) is kept apart from the
protocol (:mod:`kiosk.hardware.fingerprint.zfm_protocol`, pure functions), and both from the
exchange of packets over the line (a command and its acknowledge, re-sent; a data upload,
restarted; the frames logged: :mod:`~kiosk.hardware.fingerprint.zfm_exchange`). This module
holds the device's commands: the handshake, capture, features, the LED, reconnecting.
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

from kiosk.errors import (
    CaptureRejected,
    DeviceError,
    DeviceNotFound,
    DeviceProtocolError,
    DeviceTimeout,
)
from kiosk.hardware.base import FingerprintImage, Options
from kiosk.hardware.fingerprint import zfm_protocol as zp
from kiosk.hardware.fingerprint.base import CAPTURE_TIMEOUT_S, FingerprintScanner
from kiosk.hardware.fingerprint.zfm_exchange import PacketExchange
from kiosk.hardware.fingerprint.zfm_link import READ_SLICE_S, LinkLost, SerialLink, reopen
from kiosk.hardware.fingerprint.zfm_templates import TemplateCommands
from kiosk.options import Boolean, Integer, Number, String

__all__ = ["READ_SLICE_S", "LinkLost", "SerialLink", "ZfmFingerprint"]

log = logging.getLogger(__name__)


class ZfmFingerprint(TemplateCommands, PacketExchange, FingerprintScanner):
    """A ZhianTec ZFM fingerprint sensor (R307/R503/AS608 family) on a serial port.

    Protocol (ZFM user manual): framed packets ``EF 01 | address | id | length | payload |
    checksum`` (see :mod:`~kiosk.hardware.fingerprint.zfm_protocol`). Opening sends
    ``VfyPwd`` (0x13) and ``ReadSysPara`` (0x0F, for the data packet size). ``capture``
    polls ``GenImg`` (0x01; 0x02 = no finger) every ``poll_interval_s`` until a finger is
    down or ``timeout`` passes, optionally checks with ``Img2Tz`` (0x02) that the sensor
    finds features (``check_features``), then ``UpImage`` (0x0A): an ack, then 36,864 bytes
    of 4-bit pixels, high nibble first, in data packets closed by an end packet (0x08).
    Templates and matching on the module: :mod:`~kiosk.hardware.fingerprint.zfm_templates`.

    Faults: a bad checksum or a timed-out reply re-sends the command (``retries``); a broken
    image upload is restarted (``image_retries``); a vanished port is reopened with backoff
    for up to ``reconnect_timeout_s`` and the capture restarts from ``GenImg``. What still
    fails raises :class:`~kiosk.errors.DeviceTimeout` (no answer, no finger),
    :class:`~kiosk.errors.DeviceProtocolError` (bytes that never made sense),
    :class:`~kiosk.errors.DeviceNotFound` (the port is gone) or
    :class:`~kiosk.errors.CaptureRejected` (the sensor could not image the finger).

    Wiring: see :class:`~kiosk.hardware.fingerprint.base.FingerprintScanner` (sensor TX to
    GPIO15/RXD, RX to GPIO14/TXD, 3.3 V). R503 only: ``led = true`` drives its ring LED
    (AuraLedConfig 0x35): breathing blue while waiting, green on success, red on failure.

    Example (config ``[hardware.fingerprint] type = "zfm"  port = "/dev/ttyAMA0"``)::

        with ZfmFingerprint(port="/dev/ttyAMA0", baudrate=57600) as scanner:
            image = scanner.capture(timeout=10)   # FingerprintImage 256x288, 500 ppi
    """

    OPTIONS: ClassVar[Options] = {
        "port": String("/dev/ttyAMA0", description="the sensor's serial port"),
        "baudrate": Integer(zp.DEFAULT_BAUDRATE, choices=zp.BAUDRATES, description=(
            f"the sensor's UART speed (9600 * N; ZFM modules ship at {zp.DEFAULT_BAUDRATE})")),
        "address": Integer(zp.DEFAULT_ADDRESS, 0, 0xFFFFFFFF,
                           allowed="a 32-bit number (0xFFFFFFFF)",
                           description="the module address in every packet"),
        "password": Integer(zp.DEFAULT_PASSWORD, 0, 0xFFFFFFFF, allowed="a 32-bit number",
                            secret=True, description="the module password (VfyPwd)"),
        "packet_size": Integer(0, choices=(0, *zp.PACKET_SIZES.values()),
                               allowed="0 (ask the sensor), 32, 64, 128 or 256",
                               description="data packet size; 0: as the sensor reports "
                                           "(ReadSysPara)"),
        "timeout_s": Number(1.0, above=0, allowed="a number of seconds > 0",
                            description="per reply / per data packet"),
        "retries": Integer(2, 0, allowed="an integer >= 0", description=(
            "re-sends of a command after a bad or missing reply")),
        "image_retries": Integer(2, 0, allowed="an integer >= 0",
                                 description="restarts of a broken image upload"),
        "reconnect_timeout_s": Number(5.0, above=0, allowed="a number of seconds > 0",
                                      description="how long to reopen a vanished port"),
        "max_reconnects": Integer(3, 0, allowed="an integer >= 0",
                                  description="reconnects per capture"),
        "poll_interval_s": Number(0.05, above=0, allowed="a number of seconds > 0",
                                  description="GenImg polling while waiting for a finger"),
        "led": Boolean(False, description="R503 only: drive the ring LED"),
        "check_features": Boolean(False, description=(
            "check with Img2Tz that the sensor finds features before the upload")),
    }

    def __init__(self, *, port: str = OPTIONS["port"].default,
                 baudrate: int = OPTIONS["baudrate"].default,
                 address: int = OPTIONS["address"].default,
                 password: int = OPTIONS["password"].default,
                 packet_size: int = OPTIONS["packet_size"].default,
                 timeout_s: float = OPTIONS["timeout_s"].default,
                 retries: int = OPTIONS["retries"].default,
                 image_retries: int = OPTIONS["image_retries"].default,
                 reconnect_timeout_s: float = OPTIONS["reconnect_timeout_s"].default,
                 max_reconnects: int = OPTIONS["max_reconnects"].default,
                 poll_interval_s: float = OPTIONS["poll_interval_s"].default,
                 led: bool = OPTIONS["led"].default,
                 check_features: bool = OPTIONS["check_features"].default) -> None:
        super().__init__()
        self._check_options(locals())
        self.port = port
        self.baudrate = baudrate
        self.address = address
        self._password = password
        self.configured_packet_size = packet_size
        self.packet_size = packet_size or zp.DEFAULT_PACKET_SIZE  # until ReadSysPara says
        self.timeout_s = float(timeout_s)
        self.retries = retries
        self.image_retries = image_retries
        self.reconnect_timeout_s = float(reconnect_timeout_s)
        self.max_reconnects = max_reconnects
        self.poll_interval = float(poll_interval_s)
        self.led = led
        self.check_features = check_features
        self.sys_params: zp.SysParams | None = None
        self.reconnects = 0  # since open(), for self-test and tests
        self._link = SerialLink(port, baudrate)
        self._parser = zp.PacketParser()

    # -- lifecycle ---------------------------------------------------------------------------
    def _open(self) -> None:
        try:
            self._link.open()
        except LinkLost as exc:
            cause = exc.__cause__ or exc
            raise DeviceNotFound(f"fingerprint sensor port {self.port} cannot be opened "
                                 f"({cause}); check hardware.fingerprint.port and that the "
                                 f"serial console is off") from exc
        try:
            self._handshake()
        except BaseException:
            self._link.close()
            raise
        self.reconnects = 0

    def _close(self) -> None:
        self._link.close()

    def _selftest(self) -> tuple[bool, str]:
        with self._exclusive("self-test"):
            self._with_reconnect(self._handshake)
        p = self.sys_params
        detail = f"ZFM sensor on {self.port} at {self.baudrate} baud, packets of " \
                 f"{self.packet_size} bytes"
        if p is not None:
            detail += f", library {p.library_size}, security level {p.security_level}"
        return True, detail

    # -- public API --------------------------------------------------------------------------
    @property
    def is_finger_present(self) -> bool:
        """One GenImg: True when the sensor saw a finger (it keeps that image)."""
        with self._exclusive("finger check"):
            return self._with_reconnect(lambda: self._gen_img() == zp.OK)

    def capture(self, *, timeout: float = CAPTURE_TIMEOUT_S) -> FingerprintImage:
        with self._exclusive():
            deadline = time.monotonic() + timeout
            lost = 0
            while True:
                try:
                    if not self._link.is_open:
                        raise LinkLost(f"{self.port} was lost earlier")
                    image = self._capture_once(deadline, timeout)
                except LinkLost as exc:
                    lost += 1
                    if lost > self.max_reconnects:
                        raise DeviceNotFound(f"fingerprint sensor on {self.port}: the line "
                                             f"dropped {lost} times during one capture") from exc
                    self._reconnect(exc)
                    continue
                except DeviceError:
                    self._set_led(zp.LED_FLASHING, zp.LED_RED, 2)
                    raise
                self._set_led(zp.LED_FLASHING, zp.LED_GREEN, 1)
                return image

    def image_to_template(self, buffer_id: int = 1) -> None:
        """Img2Tz: turn the image in the sensor's buffer into features in ``buffer_id``.

        Raises CaptureRejected when the sensor finds the image too messy or too poor.
        """
        with self._exclusive("feature extraction"):
            self._with_reconnect(lambda: self._img2tz(buffer_id))

    def read_template(self, buffer_id: int = 1) -> bytes:
        """UpChar (0x08): the feature template in ``buffer_id`` (after image_to_template)."""
        with self._exclusive("template upload"):
            return self._with_reconnect(lambda: self._upload(zp.UP_CHAR, bytes([buffer_id]),
                                                             max_bytes=4096))

    def set_led(self, control: int, color: int, times: int = 0, speed: int = 0x80) -> None:
        """R503 AuraLedConfig (0x35); control and colour codes in zfm_protocol (LED_*)."""
        with self._exclusive("LED change"):
            pkt = self._with_reconnect(lambda: self._transact(
                zp.AURA_LED_CONFIG, bytes([control, speed, color, times])))
            if pkt.code != zp.OK:
                raise DeviceProtocolError(f"AuraLedConfig answered 0x{pkt.code:02x}; "
                                          f"is this an R503?")

    # -- capture steps -------------------------------------------------------------------------
    def _capture_once(self, deadline: float, timeout: float) -> FingerprintImage:
        self._set_led(zp.LED_BREATHING, zp.LED_BLUE, 0)
        last = zp.NO_FINGER
        while True:
            last = self._gen_img()
            if last == zp.OK:
                break
            if last not in (zp.NO_FINGER, zp.IMAGE_FAIL):
                raise DeviceProtocolError(f"GenImg answered 0x{last:02x} "
                                          f"({zp.CONFIRMATION_TEXT.get(last, 'unknown')})")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if last == zp.IMAGE_FAIL:
                    raise CaptureRejected("the sensor could not take a clear image; clean "
                                          "the glass and place the finger again")
                raise DeviceTimeout(f"no finger on the sensor within {timeout:g} s")
            time.sleep(min(self.poll_interval, remaining))
        if self.check_features:
            self._img2tz(1)
        data = self._upload(zp.UP_IMAGE, b"", exact=zp.IMAGE_BYTES)
        return FingerprintImage(zp.IMAGE_WIDTH, zp.IMAGE_HEIGHT, zp.IMAGE_PPI,
                                zp.unpack_image(data), bits=4)

    def _gen_img(self) -> int:
        return self._transact(zp.GEN_IMG).code

    def _img2tz(self, buffer_id: int) -> None:
        code = self._transact(zp.IMG2TZ, bytes([buffer_id])).code
        if code in (zp.IMAGE_MESSY, zp.FEATURE_FAIL, zp.INVALID_IMAGE):
            raise CaptureRejected(f"the sensor rejected the image: "
                                  f"{zp.CONFIRMATION_TEXT[code]}; place the finger again")
        if code != zp.OK:
            raise DeviceProtocolError(f"Img2Tz answered 0x{code:02x}")

    def _handshake(self) -> None:
        pkt = self._transact(zp.VFY_PWD, self._password.to_bytes(4, "big"))
        if pkt.code == zp.WRONG_PASSWORD:
            raise DeviceError(f"the fingerprint sensor on {self.port} rejected the password; "
                              f"check hardware.fingerprint.password")
        if pkt.code != zp.OK:
            raise DeviceProtocolError(f"VfyPwd answered 0x{pkt.code:02x}")
        pkt = self._transact(zp.READ_SYS_PARA)
        try:
            if pkt.code != zp.OK:
                raise zp.FrameError(f"confirmation 0x{pkt.code:02x}")
            self.sys_params = zp.parse_sys_params(pkt.payload[1:])
        except zp.FrameError as exc:  # not fatal: the configured packet size still works
            log.warning("ReadSysPara on %s unusable (%s); using packet size %d",
                        self.port, exc, self.packet_size)
            return
        if not self.configured_packet_size:
            self.packet_size = self.sys_params.packet_size
        log.info("fingerprint sensor on %s: packets of %d bytes, library %d, security %d",
                 self.port, self.packet_size, self.sys_params.library_size,
                 self.sys_params.security_level)

    def _set_led(self, control: int, color: int, times: int) -> None:
        if not self.led:
            return
        try:
            pkt = self._transact(zp.AURA_LED_CONFIG, bytes([control, 0x80, color, times]))
            if pkt.code != zp.OK:
                log.warning("AuraLedConfig answered 0x%02x", pkt.code)
        except LinkLost:
            raise
        except DeviceError as exc:  # a dark LED must not fail a capture
            log.warning("LED change failed: %s", exc)

    # -- reconnecting --------------------------------------------------------------------------
    def _with_reconnect(self, action: Any) -> Any:
        try:
            if not self._link.is_open:
                raise LinkLost(f"{self.port} was lost earlier")
            return action()
        except LinkLost as exc:
            self._reconnect(exc)
            return action()

    def _reconnect(self, reason: Exception) -> None:
        """Reopen the port with backoff until it answers, or raise DeviceNotFound."""
        reopen(self._link, self._handshake, self._parser.clear, self.reconnect_timeout_s,
               reason)
        self.reconnects += 1
