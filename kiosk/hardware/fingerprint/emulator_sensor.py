"""The emulated ZFM sensor's side of the line: commands in, reply frames out.

:class:`ZfmSensor` answers VfyPwd, ReadSysPara, GenImg, Img2Tz, UpImage, UpChar and
AuraLedConfig packets by queueing frames (and :class:`~.emulator_faults.Drop` /
:class:`~.emulator_faults.Stall` markers where a fault cuts an upload) on ``_out``.
Carrying them is the line's job: :class:`~kiosk.hardware.fingerprint.emulator.FingerprintEmulator`
serves this sensor on a pty.

Images: by default capture ``n`` is finger ``n`` of the synthetic person ``seed`` (the
simulated scanner's images), quantized to 4 bits; :meth:`ZfmSensor.expected_image` gives the
8-bit image the driver must return. A new image is taken when ``GenImg`` succeeds after the
previous image was uploaded in full; until then re-uploads send the same image.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import deque
from collections.abc import Callable, Sequence

from kiosk.hardware.base import FingerprintImage
from kiosk.hardware.fingerprint import synth
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
        self._template = False

    def _power_up(self, *, handshake: bool) -> None:
        """Power-up empties the image buffer; which finger comes next does not change."""
        self._out.clear()
        self._have_image = self._template = False
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
        return FingerprintImage(zp.IMAGE_WIDTH, zp.IMAGE_HEIGHT, 500, zp.unpack_image(wire_image))

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
        if self.faults.mute or packet.pid != zp.PID_COMMAND or not packet.payload:
            return
        if packet.address != self.address:  # not for this module: a real one stays silent
            return
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
            self._template = self._have_image
            self._reply(zp.OK if self._have_image else zp.INVALID_IMAGE)
        elif code == zp.UP_IMAGE:
            self._up_image()
        elif code == zp.UP_CHAR:
            if not self._template:
                self._reply(zp.UPLOAD_FAIL)
                return
            self._reply(zp.OK)
            digest = hashlib.sha256(b"template%d" % self._index).digest()
            for frame in zp.data_packets(digest * 16, self.packet_size, self.address):
                self._out.append(frame)
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
            self._polls_left = self.faults.no_finger
            if self._polls_left:
                self._gen_img()
                return
        self._have_image = True
        self._template = False
        self._reply(zp.OK)

    def _up_image(self) -> None:
        if not self._have_image:
            self._reply(zp.UPLOAD_FAIL)
            return
        self.uploads += 1
        frames = zp.data_packets(zp.pack_image(self.source_pixels(self._index)),
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
