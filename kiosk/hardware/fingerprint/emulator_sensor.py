"""The emulated ZFM sensor's side of the line: commands in, reply frames out.

:class:`ZfmSensor` answers VfyPwd, ReadSysPara, GenImg, Img2Tz, UpImage, UpChar, DownChar,
Match and AuraLedConfig packets by queueing frames (and :class:`~.emulator_faults.Drop` /
:class:`~.emulator_faults.Stall` markers where a fault cuts an upload) on ``_out``.
Carrying them is the line's job: :class:`~kiosk.hardware.fingerprint.emulator.FingerprintEmulator`
serves this sensor on a pty.

Images: by default capture ``n`` is finger ``n`` of the synthetic person ``seed`` (the
simulated scanner's images), quantized to 4 bits; :meth:`ZfmSensor.expected_image` gives the
8-bit image the driver must return. A new image is taken when ``GenImg`` succeeds after the
previous image was uploaded in full; until then re-uploads send the same image.
:meth:`ZfmSensor.present` puts one finger of one person on the sensor instead: each new
image is then another impression of that finger (placed, turned and pressed differently).

Templates are real: Img2Tz extracts minutiae from the 4-bit image the sensor holds
(:mod:`~kiosk.hardware.fingerprint.minutiae`) into CharBuffer 1 or 2 (``FEATURE_FAIL``
below 8 minutiae, like a module that finds too few feature points); UpChar sends a buffer's
512 bytes, DownChar takes 512 bytes into one, and Match compares the two buffers, answering
OK or NO_MATCH with the score, the threshold set by the security level (ReadSysPara's).
Search, RegModel and Store (the module's flash library) are not emulated: the kiosk keeps
no fingerprint in the sensor.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Sequence

from kiosk.hardware.base import FingerprintImage
from kiosk.hardware.fingerprint import minutiae, synth
from kiosk.hardware.fingerprint import zfm_protocol as zp
from kiosk.hardware.fingerprint.emulator_faults import Drop, Faults, Stall

__all__ = ["ImageSource", "ZfmSensor"]

ImageSource = FingerprintImage | bytes | Sequence[FingerprintImage | bytes] | Callable[
    [int], FingerprintImage | bytes] | None


class ZfmSensor:
    """The sensor state machine of the emulator (no I/O): see the module docstring."""

    def __init__(self, *, images: ImageSource, seed: int, faults: Faults | None,
                 address: int, password: int, packet_size: int, baudrate: int,
                 throttle: bool, library_size: int, security_level: int) -> None:
        if packet_size not in zp.PACKET_SIZES.values():
            raise ValueError(f"packet size {packet_size} is not 32, 64, 128 or 256")
        self.images = images
        self.seed = seed
        self.faults = faults or Faults()
        self.address = address
        self.password = password
        self.packet_size = packet_size
        self.baudrate = baudrate
        self.throttle = throttle
        self.params = zp.SysParams(0, 0x0009, library_size, security_level, address,
                                   packet_size, baudrate)
        # Counters, for tests and the benchmark.
        self.commands: list[int] = []  # instruction codes in arrival order
        self.uploads = 0               # UpImage acks sent
        self.led: tuple[int, int, int, int] | None = None
        self.upload_started: float | None = None
        self.upload_sent: float | None = None  # when the last byte of the upload left
        self._rng = random.Random(seed)  # noqa: S311 - line noise, not secrets
        self._out: deque[bytes | Drop | Stall] = deque()
        self._wire_free = 0.0
        # Sensor state.
        self._index = 0            # the image in the buffer
        self._have_image = False   # GenImg succeeded since power-up
        self._uploaded = False     # the image in the buffer was uploaded in full
        self._dropped_index = -1   # drop_every: the image that already dropped once
        self._polls_left = self.faults.no_finger
        self._buffers: dict[int, bytes] = {}  # CharBuffer 1 and 2: templates
        self._receiving: int | None = None    # DownChar: the buffer the data goes to
        self._incoming = bytearray()
        self._presented: tuple[int, int] | None = None  # present(): (person, finger)
        self._impressions: dict[tuple[int, int], int] = {}
        self._image: bytes | None = None      # the 8-bit source of the image in the buffer

    def present(self, finger: int, person: int | None = None) -> None:
        """From the next new image on, show finger ``finger`` of ``person`` (default
        ``seed``), a new impression each time."""
        self._presented = (self.seed if person is None else person, finger)

    def _power_up(self, *, handshake: bool) -> None:
        """Power-up empties the image buffer; which finger comes next does not change."""
        self._out.clear()
        self._have_image = False
        self._image = None
        self._buffers.clear()
        self._receiving = None
        if handshake:
            self._out.append(b"\x55")  # R503: "after reset, 0x55 is sent as a handshake sign"

    # -- images ----------------------------------------------------------------------------------
    def source_pixels(self, index: int) -> bytes:
        """The 8-bit 256 x 288 image capture ``index`` shows, before quantization."""
        src = self.images
        if src is None:
            return synth.render(self.seed, index)
        if callable(src) and not isinstance(src, FingerprintImage | bytes):
            item = src(index)
        elif isinstance(src, FingerprintImage | bytes):
            item = src
        else:
            item = src[index % len(src)]
        pixels = item.pixels if isinstance(item, FingerprintImage) else bytes(item)
        if len(pixels) != zp.IMAGE_WIDTH * zp.IMAGE_HEIGHT:
            raise ValueError(f"emulator image {index}: {len(pixels)} pixels; expected "
                             f"{zp.IMAGE_WIDTH}x{zp.IMAGE_HEIGHT}")
        return pixels

    def expected_image(self, index: int) -> FingerprintImage:
        """What the driver must deliver for capture ``index``: 4-bit levels times 17."""
        wire_image = zp.pack_image(self.source_pixels(index))
        return FingerprintImage(zp.IMAGE_WIDTH, zp.IMAGE_HEIGHT, zp.IMAGE_PPI,
                                zp.unpack_image(wire_image), bits=4)

    # -- the sensor --------------------------------------------------------------------------------
    def _send(self, frame: bytes) -> None:
        if self.faults.take("garbage"):
            noise = bytes(self._rng.randrange(256) for _ in range(self._rng.randrange(3, 24)))
            self._out.append(noise + b"\xef")  # a lone EF: the start of a header that is not
        self._out.append(frame)

    def _reply(self, confirmation: int, params: bytes = b"") -> None:
        frame = zp.ack(confirmation, params, self.address)
        if self.faults.take("bad_checksum"):
            frame = frame[:-1] + bytes([frame[-1] ^ 0x5A])
        self._send(frame)

    def _handle(self, packet: zp.Packet) -> None:
        if self.faults.mute or packet.address != self.address:
            return  # (not for this module: a real one stays silent)
        if packet.pid in (zp.PID_DATA, zp.PID_END):
            self._receive_data(packet)
            return
        if packet.pid != zp.PID_COMMAND or not packet.payload:
            return
        self._receiving = None  # a command ends a download that never finished
        self._out.clear()  # a new command ends whatever was still being sent
        code, params = packet.payload[0], packet.payload[1:]
        self.commands.append(code)
        if code == zp.VFY_PWD:
            ok = len(params) == 4 and int.from_bytes(params, "big") == self.password
            self._reply(zp.OK if ok else zp.WRONG_PASSWORD)
        elif code == zp.READ_SYS_PARA:
            self._reply(zp.OK, zp.encode_sys_params(self.params))
        elif code == zp.GEN_IMG:
            self._gen_img()
        elif code == zp.IMG2TZ:
            self._img2tz(params)
        elif code == zp.UP_IMAGE:
            self._up_image()
        elif code == zp.UP_CHAR:
            template = self._buffers.get(params[0]) if len(params) == 1 else None
            if template is None:
                self._reply(zp.UPLOAD_FAIL)
                return
            self._reply(zp.OK)
            for frame in zp.data_packets(template, self.packet_size, self.address):
                self._out.append(frame)
        elif code == zp.DOWN_CHAR:
            if len(params) != 1 or params[0] not in (1, 2):
                self._reply(zp.DOWNLOAD_FAIL)
                return
            self._receiving, self._incoming = params[0], bytearray()
            self._reply(zp.OK)
        elif code == zp.MATCH:
            self._match()
        elif code == zp.AURA_LED_CONFIG and len(params) == 4:
            self.led = (params[0], params[1], params[2], params[3])
            self._reply(zp.OK)
        else:
            self._reply(zp.ERR_RECEIVE)

    def _gen_img(self) -> None:
        if self._polls_left:
            if self._polls_left > 0:
                self._polls_left -= 1
            self._reply(zp.NO_FINGER)
            return
        if self._uploaded:  # the previous image went out in full: this is the next finger
            self._index += 1
            self._uploaded = False
            self._image = None
            self._polls_left = self.faults.no_finger
            if self._polls_left:
                self._gen_img()
                return
        if self._image is None:
            self._image = self._take_image()
        self._have_image = True
        self._reply(zp.OK)

    def _take_image(self) -> bytes:
        """The 8-bit source of the image a successful GenImg puts in the image buffer."""
        if self._presented is None:
            return self.source_pixels(self._index)
        impression = self._impressions.get(self._presented, 0)
        self._impressions[self._presented] = impression + 1
        return synth.render(self._presented[0], self._presented[1], impression)

    # -- templates ---------------------------------------------------------------------------
    def _img2tz(self, params: bytes) -> None:
        if len(params) != 1 or params[0] not in (1, 2):
            self._reply(zp.ERR_RECEIVE)
            return
        if not self._have_image or self._image is None:
            self._reply(zp.INVALID_IMAGE)
            return
        # From the 4-bit image the sensor holds, exactly what UpImage would send.
        pixels = zp.unpack_image(zp.pack_image(self._image))
        found = minutiae.extract(pixels, zp.IMAGE_WIDTH, zp.IMAGE_HEIGHT)
        if len(found) < minutiae.MIN_MINUTIAE:
            self._buffers.pop(params[0], None)
            self._reply(zp.FEATURE_FAIL)
            return
        self._buffers[params[0]] = minutiae.encode_template(found)
        self._reply(zp.OK)

    def _receive_data(self, packet: zp.Packet) -> None:
        if self._receiving is None:
            return  # data nobody asked for: a real module ignores it
        self._incoming += packet.payload
        if len(self._incoming) > zp.TEMPLATE_BYTES:
            self._receiving = None  # too long: the download fails, the buffer stays empty
            return
        if packet.pid == zp.PID_END:
            buffer_id, self._receiving = self._receiving, None
            self._buffers[buffer_id] = bytes(self._incoming)

    def _match(self) -> None:
        first, second = self._buffers.get(1), self._buffers.get(2)
        if first is None or second is None:
            self._reply(zp.ERR_RECEIVE)
            return
        try:
            score = minutiae.match_score(first, second)
        except ValueError:  # a downloaded buffer that is not a template matches nothing
            score = 0
        threshold = minutiae.LEVEL_THRESHOLDS.get(self.params.security_level,
                                                  minutiae.MATCH_THRESHOLD)
        self._reply(zp.OK if score >= threshold else zp.NO_MATCH, score.to_bytes(2, "big"))

    def _up_image(self) -> None:
        if not self._have_image or self._image is None:
            self._reply(zp.UPLOAD_FAIL)
            return
        self.uploads += 1
        frames = zp.data_packets(zp.pack_image(self._image),
                                 self.packet_size, self.address)
        self.upload_started, self.upload_sent = time.monotonic(), None
        if self.throttle:
            self._wire_free = max(self._wire_free, self.upload_started)
        self._reply(zp.OK)
        half = len(frames) // 2
        faults = self.faults
        if faults.disconnect:
            faults.disconnect = False
            self._out.extend(frames[:half])
            self._out.append(Drop(forever=True))
            return
        every = faults.drop_every and (self._index + 1) % faults.drop_every == 0 \
            and self._dropped_index != self._index
        if every or faults.take("drop"):
            self._dropped_index = self._index
            self._out.extend(frames[:half])
            self._out.append(Drop(forever=False))
            return
        if faults.take("stall"):
            self._out.extend(frames[:half])
            self._out.append(Stall())
            return
        if faults.take("bad_checksum_image"):
            bad = frames[half]
            frames[half] = bad[:-1] + bytes([bad[-1] ^ 0x5A])
        self._out.extend(frames)
        self._uploaded = True
