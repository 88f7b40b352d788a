"""Fuzzing the ZhianTec ZFM protocol: the frame parser (``EF 01`` header, address, packet
id, length, checksum) on random and damaged byte streams, ``decode_packet``,
``parse_sys_params``, ``unpack_image``; then the driver (:class:`ZfmFingerprint`) over a fake
serial line that answers with random bytes, or with a real session's replies damaged.

The parser may only raise :class:`~kiosk.hardware.fingerprint.zfm_protocol.FrameError`
(``ChecksumMismatch`` is one); the driver only :class:`~kiosk.errors.DeviceError`s, within
its own timeouts.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from kiosk.errors import DeviceError
from kiosk.hardware.base import FingerprintImage
from kiosk.hardware.fingerprint import zfm_protocol as zp
from kiosk.hardware.fingerprint.zfm import ZfmFingerprint
from tests.fuzz.budget import fuzz
from tests.fuzz.mutate import damaged

OK_ACK = zp.ack(zp.OK)


def drain(parser: zp.PacketParser, limit: int) -> tuple[list[zp.Packet], int]:
    """Every packet the parser yields from what it was fed, and the checksum errors seen.
    Fails (instead of hanging) if it does not stop within ``limit`` calls."""
    packets: list[zp.Packet] = []
    mismatches = 0
    for _ in range(limit):
        try:
            packet = parser.next_packet()
        except zp.ChecksumMismatch:
            mismatches += 1
            continue
        if packet is None:
            return packets, mismatches
        packets.append(packet)
    pytest.fail(f"the parser did not stop after {limit} calls")


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


# -- the frame parser ----------------------------------------------------------------------------
def frame_strategy() -> st.SearchStrategy[bytes]:
    return st.builds(zp.encode_packet, st.sampled_from(sorted(zp.PIDS)),
                     st.binary(max_size=40), st.sampled_from([zp.DEFAULT_ADDRESS, 0, 0x12345678]))


streams = st.one_of(
    st.binary(max_size=500),
    st.lists(st.one_of(frame_strategy(), st.binary(max_size=12),
                       st.just(b"\xef\x01"), st.just(b"\xef")), max_size=12).map(b"".join),
    st.lists(frame_strategy(), min_size=1, max_size=6).map(b"".join).flatmap(
        lambda s: damaged(s, length_fields=[(7, 2)], max_mutations=4)),
)


@fuzz(200)
@given(data=streams, cuts=st.lists(st.integers(0, 10_000), max_size=8))
@example(data=b"\xef\x01" * 50, cuts=[])                          # headers only
@example(data=b"\xef\x01\xff\xff\xff\xff\x07\x00\x00", cuts=[])   # length 0 (< checksum)
@example(data=b"\xef\x01\xff\xff\xff\xff\x07\x00\x01\x00", cuts=[])  # length 1
@example(data=b"\xef\x01\xff\xff\xff\xff\x07\xff\xff" + bytes(20), cuts=[])  # 64 KiB claimed
@example(data=b"\xef\x01\xff\xff\xff\xff\x07\x00\x02\x00\x09", cuts=[3])  # empty payload
@example(data=b"\xef", cuts=[])
def test_parser_stops_and_yields_only_real_frames(data: bytes, cuts: list[int]) -> None:
    parser = zp.PacketParser()
    packets: list[zp.Packet] = []
    for chunk in chunked(data, cuts):
        parser.feed(chunk)
        got, _mismatches = drain(parser, limit=len(data) + 2)
        packets += got
    assert parser.buffered <= len(data)
    for packet in packets:  # each packet is one that really is in the stream, checksum and all
        assert packet.pid in zp.PIDS and len(packet.payload) <= zp.MAX_PAYLOAD
        assert zp.encode_packet(packet.pid, packet.payload, packet.address) in data
        if not packet.payload:
            with pytest.raises(zp.FrameError):
                _ = packet.code


@fuzz(100)
@given(frames=st.lists(frame_strategy(), min_size=1, max_size=8),
       cuts=st.lists(st.integers(0, 10_000), max_size=20), junk=st.binary(max_size=20))
def test_valid_frames_split_anyhow_all_come_out_in_order(frames: list[bytes], cuts: list[int],
                                                         junk: bytes) -> None:
    junk = junk.replace(b"\xef", b"")  # garbage without a header start before the frames
    data = junk + b"".join(frames)
    parser = zp.PacketParser()
    packets: list[zp.Packet] = []
    for chunk in chunked(data, cuts):
        parser.feed(chunk)
        got, mismatches = drain(parser, limit=len(data) + 2)
        assert mismatches == 0
        packets += got
    assert [zp.encode_packet(p.pid, p.payload, p.address) for p in packets] == frames
    assert parser.buffered == 0


@fuzz(150)
@given(frame=st.one_of(st.binary(max_size=80), frame_strategy().flatmap(
    lambda f: damaged(f, length_fields=[(7, 2)]))))
@example(frame=OK_ACK + b"\x00")
@example(frame=OK_ACK[:-1])
@example(frame=b"\x00" + OK_ACK)  # decoded, garbage and all, before the fix
def test_decode_packet_decodes_exactly_one_frame_or_raises_frame_error(frame: bytes) -> None:
    try:
        packet = zp.decode_packet(frame)
    except zp.FrameError:
        return
    assert zp.encode_packet(packet.pid, packet.payload, packet.address) == frame


@fuzz(100)
@given(params=st.binary(max_size=40))
@example(params=bytes(16))
@example(params=bytes(15))
def test_parse_sys_params_parses_or_raises_frame_error(params: bytes) -> None:
    try:
        p = zp.parse_sys_params(params)
    except zp.FrameError:
        assert len(params) < 16 or params[12:14] not in (b"\x00\x00", b"\x00\x01", b"\x00\x02",
                                                         b"\x00\x03")
        return
    assert p.packet_size in zp.PACKET_SIZES.values()


@pytest.mark.parametrize("size", [0, 1, zp.IMAGE_BYTES - 1, zp.IMAGE_BYTES + 1])
def test_unpack_image_of_the_wrong_size_is_a_frame_error(size: int) -> None:
    with pytest.raises(zp.FrameError):
        zp.unpack_image(bytes(size))


# -- the driver over a fake serial line ---------------------------------------------------------
class FakeLink:
    """Stands in for :class:`~kiosk.hardware.fingerprint.zfm_link.SerialLink`.

    ``reply(instruction) -> bytes`` (if given) is what the sensor answers each command with;
    ``stream`` is bytes already on the line. Reads hand out what is pending in slices of
    ``slice_size`` bytes, then ``b""`` for ever, as a quiet port does after its read timeout.
    """

    port = "fuzz0"

    def __init__(self, stream: bytes = b"", reply: Callable[[int], bytes] | None = None,
                 slice_size: int = 64) -> None:
        self.pending = bytearray(stream)
        self.reply = reply
        self.slice_size = max(1, slice_size)
        self.is_open = False
        self.writes = 0

    def open(self) -> None:
        self.is_open = True

    def close(self) -> None:
        self.is_open = False

    def write(self, data: bytes) -> None:
        self.writes += 1
        if self.reply is not None:
            self.pending += self.reply(zp.decode_packet(data).code)

    def read_some(self) -> bytes:
        out = bytes(self.pending[:self.slice_size])
        del self.pending[:self.slice_size]
        return out

    def discard_input(self) -> None:
        """Keeps the pending bytes: in a fuzz stream they have not 'arrived' yet."""


FAST = {"timeout_s": 0.004, "poll_interval_s": 0.001, "retries": 1, "image_retries": 1,
        "reconnect_timeout_s": 0.05, "max_reconnects": 0}
CAPTURE_TIMEOUT = 0.02
# The longest a run may take: every wait of every retry of every command, with slack for a
# slow machine. A hang would blow through it (and pytest-timeout would stop the run).
MAX_RUN_S = 10.0


def scanner_on(link: FakeLink, **options: object) -> ZfmFingerprint:
    scanner = ZfmFingerprint(**(FAST | options))
    scanner._link = link  # the seam: the driver talks only to its link
    return scanner


def run_session(scanner: ZfmFingerprint, what: str) -> object:
    """Open and do one thing; the result, or the DeviceError it raised (and only that)."""
    started = time.monotonic()
    try:
        scanner.open()
        try:
            if what == "capture":
                return scanner.capture(timeout=CAPTURE_TIMEOUT)
            if what == "template":
                scanner.image_to_template(1)
                return scanner.read_template(1)
            return scanner.is_finger_present
        finally:
            scanner.close()
    except DeviceError as exc:
        assert str(exc)
        return exc
    finally:
        assert time.monotonic() - started < MAX_RUN_S


def sensor_replies(packet_size: int = 128) -> dict[int, bytes]:
    """A healthy sensor's answer to each command of a capture (finger down)."""
    params = zp.encode_sys_params(zp.SysParams(0, 9, 1000, 3, zp.DEFAULT_ADDRESS, packet_size,
                                               57600))
    image = bytes((i * 7) & 0xFF for i in range(zp.IMAGE_BYTES))
    template = bytes(range(256)) * 2
    return {
        zp.VFY_PWD: OK_ACK,
        zp.READ_SYS_PARA: zp.ack(zp.OK, params),
        zp.GEN_IMG: OK_ACK,
        zp.IMG2TZ: OK_ACK,
        zp.AURA_LED_CONFIG: OK_ACK,
        zp.UP_IMAGE: OK_ACK + b"".join(zp.data_packets(image, packet_size)),
        zp.UP_CHAR: OK_ACK + b"".join(zp.data_packets(template, packet_size)),
    }


HEALTHY = sensor_replies()


def test_the_fake_sensor_gives_a_clean_capture() -> None:
    image = run_session(scanner_on(FakeLink(reply=HEALTHY.__getitem__)), "capture")
    assert isinstance(image, FingerprintImage) and (image.width, image.height) == (256, 288)
    template = run_session(scanner_on(FakeLink(reply=HEALTHY.__getitem__)), "template")
    assert template == bytes(range(256)) * 2


def check_result(result: object) -> None:
    event(f"outcome: {type(result).__name__}")  # pytest --hypothesis-show-statistics
    if isinstance(result, FingerprintImage):
        assert (result.width, result.height, result.ppi) == (256, 288, 500)
        assert set(result.pixels) <= {n * 17 for n in range(16)}
    else:
        assert isinstance(result, DeviceError | bytes | bool), result


@fuzz(60)
@given(stream=st.one_of(
    st.binary(max_size=300),
    st.lists(st.one_of(frame_strategy(), st.sampled_from(list(HEALTHY.values())[:5]),
                       st.binary(max_size=8)), max_size=8).map(b"".join)),
    what=st.sampled_from(["capture", "template", "finger"]),
    slice_size=st.integers(1, 64), led=st.booleans())
@example(stream=b"", what="capture", slice_size=64, led=False)  # a mute sensor
@example(stream=zp.ack(zp.OK, b"")  * 2, what="capture", slice_size=1, led=False)
@example(stream=zp.encode_packet(zp.PID_ACK, b""), what="finger", slice_size=64, led=False)
@example(stream=zp.ack(zp.OK, address=0x12345678), what="finger", slice_size=64, led=False)
def test_driver_on_random_bytes_raises_device_errors_in_time(stream: bytes, what: str,
                                                            slice_size: int, led: bool) -> None:
    scanner = scanner_on(FakeLink(stream, slice_size=slice_size), led=led)
    check_result(run_session(scanner, what))


@fuzz(60)
@given(data=st.data(), what=st.sampled_from(["capture", "template", "finger"]),
       slice_size=st.sampled_from([7, 64, 512, 4096]), led=st.booleans(),
       check_features=st.booleans())
def test_driver_on_damaged_sensor_replies_raises_device_errors_in_time(
        data: st.DataObject, what: str, slice_size: int, led: bool,
        check_features: bool) -> None:
    replies = dict(HEALTHY)
    for instruction in data.draw(st.sets(st.sampled_from(sorted(replies)), min_size=1,
                                         max_size=3)):
        good = replies[instruction]
        fields = [(7, 2)] + ([(7 + len(OK_ACK), 2)] if len(good) > len(OK_ACK) else [])
        replies[instruction] = data.draw(damaged(good, length_fields=fields))
    scanner = scanner_on(FakeLink(reply=replies.__getitem__, slice_size=slice_size), led=led,
                         check_features=check_features)
    check_result(run_session(scanner, what))


@pytest.mark.parametrize("code", [zp.NO_FINGER, zp.IMAGE_FAIL, zp.ERR_RECEIVE, 0xFF])
def test_driver_with_a_sensor_that_never_says_ok_gives_up_in_time(code: int) -> None:
    replies = dict(HEALTHY) | {zp.GEN_IMG: zp.ack(code)}
    result = run_session(scanner_on(FakeLink(reply=replies.__getitem__)), "capture")
    assert isinstance(result, DeviceError)
