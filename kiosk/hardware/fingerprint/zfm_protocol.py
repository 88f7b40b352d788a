"""The ZhianTec ZFM packet protocol (R30x, R503, AS608), as pure functions: no I/O here.

Every packet on the wire, in both directions (ZFM user manual, "Data package format")::

    EF 01 | AA AA AA AA | PID | LL LL | payload ... | SS SS
    header  address       id    length  (length - 2)  checksum

* header: always ``EF 01``;
* address: the module's 32-bit address, ``FF FF FF FF`` from the factory;
* packet id: ``01`` command, ``02`` data (more follows), ``07`` acknowledge, ``08`` end of
  data (the last data packet; it still carries data);
* length: big-endian, the payload length **plus the two checksum bytes**;
* checksum: big-endian low 16 bits of the sum of the packet id, both length bytes and every
  payload byte (header and address are not summed).

A command's payload starts with its instruction code; an acknowledge's payload starts with
its confirmation code (``00`` = done). Example, GenImg to the factory address::

    >>> encode_packet(PID_COMMAND, bytes([GEN_IMG])).hex(" ")
    'ef 01 ff ff ff ff 01 00 03 01 00 05'

:class:`PacketParser` turns a byte stream back into packets: it skips garbage up to the next
``EF 01`` (a module sends a lone ``55`` after power-up, and line noise happens), and reports
a checksum mismatch as :class:`ChecksumMismatch` after dropping the bad packet, so the caller
decides whether to retry.

Images (UpImage, 0x0A): 256 x 288 pixels, 4 bits each, two pixels per byte with the **high
nibble first** (the left pixel), rows top to bottom: 36,864 bytes. Nibble ``n`` is gray
``n * 17``, so 0x0 -> 0 and 0xF -> 255.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER = b"\xef\x01"
DEFAULT_ADDRESS = 0xFFFFFFFF
DEFAULT_PASSWORD = 0x00000000

# Packet identifiers.
PID_COMMAND = 0x01
PID_DATA = 0x02
PID_ACK = 0x07
PID_END = 0x08
PIDS = frozenset({PID_COMMAND, PID_DATA, PID_ACK, PID_END})

# Instruction codes used by the kiosk.
GEN_IMG = 0x01
IMG2TZ = 0x02             # GenChar in some manuals: image -> features in CharBuffer 1 or 2
MATCH = 0x03              # compare CharBuffer 1 with CharBuffer 2: confirmation + 2-byte score
UP_CHAR = 0x08
DOWN_CHAR = 0x09          # host -> CharBuffer 1 or 2, in data packets after the ack
UP_IMAGE = 0x0A
READ_SYS_PARA = 0x0F
VFY_PWD = 0x13
AURA_LED_CONFIG = 0x35  # R503 only

# Confirmation codes (ack payload byte 0).
OK = 0x00
ERR_RECEIVE = 0x01        # the module could not receive the command packet
NO_FINGER = 0x02          # GenImg: nothing on the sensor
IMAGE_FAIL = 0x03         # GenImg: failed to collect the image
IMAGE_MESSY = 0x06        # Img2Tz: image too disordered for features
FEATURE_FAIL = 0x07       # Img2Tz: too few feature points
NO_MATCH = 0x08           # Match: the two buffers are not the same finger
DOWNLOAD_FAIL = 0x0E      # DownChar: cannot receive the following data packets
UPLOAD_FAIL = 0x0F        # UpImage/UpChar: cannot transfer the following data packets
WRONG_PASSWORD = 0x13
INVALID_IMAGE = 0x15      # Img2Tz: no valid original image in the buffer

CONFIRMATION_TEXT = {
    OK: "ok",
    ERR_RECEIVE: "error receiving the command packet",
    NO_FINGER: "no finger on the sensor",
    IMAGE_FAIL: "failed to collect the image",
    IMAGE_MESSY: "image too disordered to generate features",
    FEATURE_FAIL: "too few feature points",
    NO_MATCH: "the fingers do not match",
    DOWNLOAD_FAIL: "cannot receive the following data packets",
    UPLOAD_FAIL: "cannot transfer the following data packets",
    WRONG_PASSWORD: "wrong password",
    INVALID_IMAGE: "no valid image in the buffer",
}

# ReadSysPara's packet-size field: code -> data bytes per data packet (manual: 0,1,2,3 ->
# 32, 64, 128, 256). The factory setting is 2 (128 bytes).
PACKET_SIZES = {0: 32, 1: 64, 2: 128, 3: 256}
DEFAULT_PACKET_SIZE = PACKET_SIZES[2]
# The UART speeds: 9600 * N, N = 1, 2, 4, 6, 12 (ReadSysPara's baud field is N); modules
# ship at 57600.
BAUDRATES = (9600, 19200, 38400, 57600, 115200)
DEFAULT_BAUDRATE = 57600
#: The security level (1 accepts most, 5 refuses most; ReadSysPara) the emulated module
#: reports and the simulated scanner matches at unless told otherwise: the middle one.
DEFAULT_SECURITY_LEVEL = 3
MAX_PAYLOAD = 256 + 1  # the largest payload a module sends: a 256-byte data packet (+ slack)

IMAGE_WIDTH = 256
IMAGE_HEIGHT = 288
IMAGE_PPI = 500  # the optical sensors' resolution
IMAGE_BYTES = IMAGE_WIDTH * IMAGE_HEIGHT // 2  # 4 bits per pixel: 36,864 bytes
TEMPLATE_BYTES = 512  # a character file (UpChar/DownChar), two 256-byte halves on the module
OVERHEAD = 2 + 4 + 1 + 2 + 2  # header, address, packet id, length, checksum: 11 bytes

# AuraLedConfig control codes and colour indices (R503 manual, "Aura control").
LED_BREATHING, LED_FLASHING, LED_ON, LED_OFF, LED_FADE_ON, LED_FADE_OFF = range(1, 7)
LED_RED, LED_BLUE, LED_PURPLE, LED_GREEN, LED_YELLOW, LED_CYAN, LED_WHITE = range(1, 8)


class FrameError(ValueError):
    """Bytes that are not a valid ZFM packet."""


class ChecksumMismatch(FrameError):
    """A complete packet whose checksum is wrong (it was dropped)."""


@dataclass(frozen=True)
class Packet:
    """One decoded packet: address, packet id and payload (without the checksum)."""

    address: int
    pid: int
    payload: bytes

    @property
    def code(self) -> int:
        """Instruction code (command) or confirmation code (ack): payload byte 0."""
        if not self.payload:
            raise FrameError(f"packet id 0x{self.pid:02x} has an empty payload")
        return self.payload[0]


def checksum(pid: int, payload: bytes) -> int:
    """Low 16 bits of packet id + both length bytes + every payload byte."""
    length = len(payload) + 2
    return (pid + (length >> 8) + (length & 0xFF) + sum(payload)) & 0xFFFF


def encode_packet(pid: int, payload: bytes, address: int = DEFAULT_ADDRESS) -> bytes:
    """The wire bytes of one packet."""
    if pid not in PIDS:
        raise ValueError(f"unknown packet id 0x{pid:02x}")
    if not 0 <= address <= 0xFFFFFFFF:
        raise ValueError(f"address {address:#x} does not fit 32 bits")
    if len(payload) > 0xFFFF - 2:
        raise ValueError(f"payload of {len(payload)} bytes is too long for one packet")
    return (HEADER + struct.pack(">IBH", address, pid, len(payload) + 2) + payload
            + struct.pack(">H", checksum(pid, payload)))


def command(instruction: int, params: bytes = b"", address: int = DEFAULT_ADDRESS) -> bytes:
    """A command packet: instruction code then its parameters."""
    return encode_packet(PID_COMMAND, bytes([instruction]) + params, address)


def ack(confirmation: int, params: bytes = b"", address: int = DEFAULT_ADDRESS) -> bytes:
    """An acknowledge packet: confirmation code then its return parameters."""
    return encode_packet(PID_ACK, bytes([confirmation]) + params, address)


def decode_packet(frame: bytes) -> Packet:
    """Decode exactly one complete packet; FrameError/ChecksumMismatch when it is not one."""
    parser = PacketParser()
    parser.feed(frame)
    packet = parser.next_packet()
    if packet is None:
        raise FrameError(f"incomplete packet ({len(frame)} bytes)")
    if parser.skipped:  # exactly one packet: garbage before it is refused like bytes after
        raise FrameError(f"{parser.skipped} bytes before the packet")
    if parser.buffered:
        raise FrameError(f"{parser.buffered} bytes after the packet")
    return packet


class PacketParser:
    """Incremental packet decoder for a byte stream.

    ``feed()`` bytes as they arrive; ``next_packet()`` returns the next complete packet,
    or None when more bytes are needed. Garbage before a header is skipped and counted in
    ``skipped``. A packet with an impossible length or packet id is treated as garbage (the
    ``EF 01`` was a false start). A packet with a wrong checksum is removed from the stream
    and raised as :class:`ChecksumMismatch`.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self._buf = bytearray()
        self.max_payload = max_payload
        self.skipped = 0  # garbage bytes dropped so far

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a packet."""
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def clear(self) -> None:
        """Forget everything buffered (after a command is re-sent)."""
        self._buf.clear()

    def _skip(self, count: int) -> None:
        del self._buf[:count]
        self.skipped += count

    def next_packet(self) -> Packet | None:
        buf = self._buf
        while True:
            start = buf.find(HEADER)
            if start < 0:
                # Keep a trailing EF: it may be the first half of a header.
                self._skip(len(buf) - 1 if buf.endswith(HEADER[:1]) else len(buf))
                return None
            if start:
                self._skip(start)
            if len(buf) < 9:
                return None
            address, pid, length = struct.unpack_from(">IBH", buf, 2)
            if pid not in PIDS or not 2 <= length <= self.max_payload + 2:
                self._skip(1)  # a false header: resync on the next EF 01
                continue
            total = 9 + length
            if len(buf) < total:
                return None
            payload = bytes(buf[9:total - 2])
            (received,) = struct.unpack_from(">H", buf, total - 2)
            del buf[:total]
            expected = checksum(pid, payload)
            if received != expected:
                raise ChecksumMismatch(
                    f"checksum {received:04x} != {expected:04x} in a packet id 0x{pid:02x} "
                    f"of {len(payload)} bytes")
            return Packet(address, pid, payload)


# -- parameters ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SysParams:
    """ReadSysPara's 16 bytes: status, system id, library size, security level, address,
    packet size (in bytes, decoded from the 0-3 code) and baud rate (bps, 9600 * N)."""

    status: int
    system_id: int
    library_size: int
    security_level: int
    address: int
    packet_size: int
    baudrate: int


def parse_sys_params(params: bytes) -> SysParams:
    """Decode the 16 bytes after ReadSysPara's confirmation code."""
    if len(params) < 16:
        raise FrameError(f"ReadSysPara returned {len(params)} parameter bytes; expected 16")
    status, system_id, library, level, address, size_code, baud_n = struct.unpack(
        ">HHHHIHH", params[:16])
    if size_code not in PACKET_SIZES:
        raise FrameError(f"ReadSysPara packet size code {size_code} is not 0-3")
    return SysParams(status, system_id, library, level, address, PACKET_SIZES[size_code],
                     9600 * baud_n)


def encode_sys_params(p: SysParams) -> bytes:
    """The 16 parameter bytes of a ReadSysPara answer (for the emulator and tests)."""
    code = {v: k for k, v in PACKET_SIZES.items()}[p.packet_size]
    return struct.pack(">HHHHIHH", p.status, p.system_id, p.library_size, p.security_level,
                       p.address, code, p.baudrate // 9600)


def vfy_pwd(password: int, address: int = DEFAULT_ADDRESS) -> bytes:
    """VfyPwd (0x13) with the 32-bit password."""
    return command(VFY_PWD, struct.pack(">I", password), address)


def aura_led(control: int, speed: int, color: int, times: int,
             address: int = DEFAULT_ADDRESS) -> bytes:
    """AuraLedConfig (0x35, R503): control code, speed, colour index, cycle count."""
    for name, value in (("control", control), ("speed", speed), ("color", color),
                        ("times", times)):
        if not 0 <= value <= 255:
            raise ValueError(f"AuraLedConfig {name} {value} is not a byte")
    return command(AURA_LED_CONFIG, bytes([control, speed, color, times]), address)


# -- images ------------------------------------------------------------------------------------
def unpack_image(data: bytes) -> bytes:
    """4-bit packed image (high nibble first) -> 8-bit gray, nibble n -> n * 17."""
    if len(data) != IMAGE_BYTES:
        raise FrameError(f"image of {len(data)} bytes; expected {IMAGE_BYTES} "
                         f"({IMAGE_WIDTH}x{IMAGE_HEIGHT} at 4 bits per pixel)")
    import numpy as np

    packed = np.frombuffer(data, dtype=np.uint8)
    out = np.empty(packed.size * 2, dtype=np.uint8)
    out[0::2] = packed >> 4
    out[1::2] = packed & 0x0F
    return (out * 17).astype(np.uint8).tobytes()


def quantize(pixels: bytes) -> bytes:
    """8-bit gray -> 4-bit values (0-15), rounding to the nearest level n * 17."""
    import numpy as np

    gray = np.frombuffer(pixels, dtype=np.uint8).astype(np.uint16)
    return ((gray + 8) // 17).astype(np.uint8).tobytes()


def pack_image(pixels: bytes) -> bytes:
    """8-bit gray, 256 x 288 -> the 36,864-byte 4-bit wire image (high nibble first)."""
    if len(pixels) != IMAGE_WIDTH * IMAGE_HEIGHT:
        raise ValueError(f"image of {len(pixels)} pixels; expected "
                         f"{IMAGE_WIDTH * IMAGE_HEIGHT}")
    import numpy as np

    levels = np.frombuffer(quantize(pixels), dtype=np.uint8)
    return ((levels[0::2] << 4) | levels[1::2]).astype(np.uint8).tobytes()


def data_packets(data: bytes, packet_size: int, address: int = DEFAULT_ADDRESS) -> list[bytes]:
    """Split ``data`` into data packets of ``packet_size`` bytes, the last one an end packet."""
    if packet_size not in PACKET_SIZES.values():
        raise ValueError(f"packet size {packet_size} is not one of 32, 64, 128, 256")
    chunks = [data[i:i + packet_size] for i in range(0, len(data), packet_size)] or [b""]
    return [encode_packet(PID_END if i == len(chunks) - 1 else PID_DATA, chunk, address)
            for i, chunk in enumerate(chunks)]


def wire_bytes(data_len: int, packet_size: int) -> int:
    """Bytes on the wire for ``data_len`` bytes of data in packets of ``packet_size``."""
    packets = max(1, -(-data_len // packet_size))
    return data_len + packets * OVERHEAD
