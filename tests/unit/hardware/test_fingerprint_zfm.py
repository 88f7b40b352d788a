"""The ZFM fingerprint driver: codec against tables of real frames, driver against the emulator.

Frames in the tables are written out by hand from the ZFM user manual's package format
(header EF01, address, packet id, length = payload + 2, checksum = 16-bit sum of id, length
and payload), not produced by the code under test.
"""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path

import pytest

from kiosk.config import load_config
from kiosk.errors import (
    ConfigError,
    DeviceError,
    DeviceNotFound,
    DeviceProtocolError,
    DeviceTimeout,
)
from kiosk.hardware.base import FingerprintImage
from kiosk.hardware.fingerprint import zfm_protocol as zp
from kiosk.hardware.fingerprint.emulator import Faults, FingerprintEmulator, parse_fault
from kiosk.hardware.fingerprint.zfm import ZfmFingerprint
from kiosk.hardware.registry import create_device
from kiosk.maintenance.fingerprint import capture_command
from kiosk.sealing import generate_central_keypair

pytestmark = pytest.mark.timeout(60)

FAST = {"timeout_s": 0.2, "reconnect_timeout_s": 2.0, "poll_interval_s": 0.01}
# The answer timeout of the cases that count commands or retries: the emulator draws the
# finger (GenImg) or extracts its features (Img2Tz) before it answers, 11-47 ms on x86_64 but
# 0.3-0.6 s on an arm64 userland under qemu-user, where FAST's 0.2 s re-sent the command
# (the driver's default, 1 s). The cases that time a failure keep FAST.
WORKING = FAST | {"timeout_s": 1.0}

# -- codec: tables of real frames ---------------------------------------------------------------
COMMANDS = [
    ("GenImg", zp.GEN_IMG, "", "ef 01 ff ff ff ff 01 00 03 01 00 05"),
    ("Img2Tz buffer 1", zp.IMG2TZ, "01", "ef 01 ff ff ff ff 01 00 04 02 01 00 08"),
    ("UpImage", zp.UP_IMAGE, "", "ef 01 ff ff ff ff 01 00 03 0a 00 0e"),
    ("ReadSysPara", zp.READ_SYS_PARA, "", "ef 01 ff ff ff ff 01 00 03 0f 00 13"),
    ("VfyPwd 0", zp.VFY_PWD, "00 00 00 00", "ef 01 ff ff ff ff 01 00 07 13 00 00 00 00 00 1b"),
    ("AuraLedConfig breathe blue", zp.AURA_LED_CONFIG, "01 80 02 00",
     "ef 01 ff ff ff ff 01 00 07 35 01 80 02 00 00 c0"),
]

REPLIES = [
    ("ack ok", "ef 01 ff ff ff ff 07 00 03 00 00 0a", zp.PID_ACK, "00"),
    ("ack no finger", "ef 01 ff ff ff ff 07 00 03 02 00 0c", zp.PID_ACK, "02"),
    ("ack wrong password", "ef 01 ff ff ff ff 07 00 03 13 00 1d", zp.PID_ACK, "13"),
    ("data packet", "ef 01 ff ff ff ff 02 00 04 ab cd 01 7e", zp.PID_DATA, "ab cd"),
    ("end packet", "ef 01 ff ff ff ff 08 00 04 12 34 00 52", zp.PID_END, "12 34"),
    ("ReadSysPara ack", "ef 01 ff ff ff ff 07 00 13 00 00 00 00 09 03 e8 00 03 ff ff ff ff "
     "00 02 00 06 05 15", zp.PID_ACK,
     "00 00 00 00 09 03 e8 00 03 ff ff ff ff 00 02 00 06"),
    ("other address", "ef 01 12 34 56 78 07 00 03 00 00 0a", zp.PID_ACK, "00"),
]


@pytest.mark.parametrize(("name", "instruction", "params", "frame"), COMMANDS,
                         ids=[c[0] for c in COMMANDS])
def test_fingerprint_zfm_encodes_commands_as_the_manual_shows(
        name: str, instruction: int, params: str, frame: str) -> None:
    assert zp.command(instruction, bytes.fromhex(params)).hex(" ") == frame


@pytest.mark.parametrize(("name", "frame", "pid", "payload"), REPLIES,
                         ids=[r[0] for r in REPLIES])
def test_fingerprint_zfm_decodes_real_frames(name: str, frame: str, pid: int,
                                             payload: str) -> None:
    packet = zp.decode_packet(bytes.fromhex(frame))
    assert packet.pid == pid
    assert packet.payload == bytes.fromhex(payload)


def test_fingerprint_zfm_checksum_is_sum_of_id_length_and_payload() -> None:
    assert zp.checksum(0x01, b"\x01") == 0x0005
    assert zp.checksum(0x02, b"\xff" * 256) == (0x02 + 0x01 + 0x02 + 255 * 256) & 0xFFFF
    assert zp.vfy_pwd(0).hex(" ") == COMMANDS[4][3]
    assert zp.aura_led(1, 0x80, 2, 0).hex(" ") == COMMANDS[5][3]


def test_fingerprint_zfm_parser_skips_garbage_and_resyncs_on_header() -> None:
    parser = zp.PacketParser()
    ok = bytes.fromhex(REPLIES[0][1])
    # A power-up 0x55, noise, a false header (packet id 0x55 does not exist), then the ack.
    parser.feed(b"\x55\x00\xef\x13\xef\x01\xff\xff\xff\xff\x55\x00\x03" + ok)
    packet = parser.next_packet()
    assert packet is not None and packet.payload == b"\x00"
    assert parser.skipped == 13
    assert parser.next_packet() is None


def test_fingerprint_zfm_parser_handles_short_reads_byte_by_byte() -> None:
    parser = zp.PacketParser()
    frame = bytes.fromhex(REPLIES[5][1])
    for byte in frame[:-1]:
        parser.feed(bytes([byte]))
        assert parser.next_packet() is None
    parser.feed(frame[-1:])
    packet = parser.next_packet()
    assert packet is not None
    assert zp.parse_sys_params(packet.payload[1:]) == zp.SysParams(
        0, 9, 1000, 3, 0xFFFFFFFF, 128, 57600)


def test_fingerprint_zfm_parser_reports_a_bad_checksum_then_continues() -> None:
    parser = zp.PacketParser()
    bad = bytearray.fromhex(REPLIES[0][1])
    bad[-1] ^= 0xFF
    parser.feed(bytes(bad) + bytes.fromhex(REPLIES[1][1]))
    with pytest.raises(zp.ChecksumMismatch):
        parser.next_packet()
    packet = parser.next_packet()
    assert packet is not None and packet.code == zp.NO_FINGER


def test_fingerprint_zfm_parser_keeps_a_trailing_header_half() -> None:
    parser = zp.PacketParser()
    frame = bytes.fromhex(REPLIES[0][1])
    parser.feed(b"\x00\x00" + frame[:1])
    assert parser.next_packet() is None
    parser.feed(frame[1:])
    assert parser.next_packet() is not None


def test_fingerprint_zfm_rejects_incomplete_and_overlong_frames() -> None:
    with pytest.raises(zp.FrameError):
        zp.decode_packet(bytes.fromhex(REPLIES[0][1])[:-1])
    with pytest.raises(zp.FrameError):
        zp.decode_packet(bytes.fromhex(REPLIES[0][1]) + b"\x00")
    with pytest.raises(zp.FrameError):
        zp.parse_sys_params(b"\x00" * 15)


def test_fingerprint_zfm_unpacks_image_high_nibble_first() -> None:
    packed = bytes([0xF0, 0x1E]) + bytes(zp.IMAGE_BYTES - 2)
    pixels = zp.unpack_image(packed)
    assert list(pixels[:4]) == [255, 0, 17, 238]
    assert len(pixels) == 256 * 288
    with pytest.raises(zp.FrameError):
        zp.unpack_image(b"\x00" * 100)


def test_fingerprint_zfm_pack_quantizes_to_the_nearest_level() -> None:
    pixels = bytes([0, 8, 9, 255, 17, 25, 26, 128]) * (256 * 288 // 8)
    packed = zp.pack_image(pixels)
    assert packed[:4] == bytes([0x00, 0x1F, 0x11, 0x28])
    assert zp.unpack_image(packed)[:8] == bytes([0, 0, 17, 255, 17, 17, 34, 136])


def test_fingerprint_zfm_splits_data_into_packets_with_an_end_packet() -> None:
    frames = zp.data_packets(bytes(range(100)), 32)
    assert [f[6] for f in frames] == [zp.PID_DATA] * 3 + [zp.PID_END]
    assert b"".join(zp.decode_packet(f).payload for f in frames) == bytes(range(100))
    assert zp.wire_bytes(zp.IMAGE_BYTES, 128) == 36864 + 288 * 11


# -- driver against the emulator ----------------------------------------------------------------
def scanner_for(emu: FingerprintEmulator, **options: object) -> ZfmFingerprint:
    return ZfmFingerprint(port=emu.port, **(FAST | options))


@pytest.mark.parametrize("packet_size", [32, 64, 256])
def test_fingerprint_zfm_takes_the_packet_size_from_the_sensor(tmp_path: Path,
                                                               packet_size: int) -> None:
    with FingerprintEmulator(link=tmp_path / "fp0", packet_size=packet_size) as emu, \
            scanner_for(emu, **WORKING) as scanner:
        assert scanner.packet_size == packet_size
        assert scanner.capture(timeout=2).pixels == emu.expected_image(0).pixels


def test_fingerprint_zfm_open_fails_clearly_without_the_port(tmp_path: Path) -> None:
    scanner = ZfmFingerprint(port=str(tmp_path / "nothing"), **FAST)
    with pytest.raises(DeviceNotFound, match=r"hardware\.fingerprint\.port"):
        scanner.open()
    assert scanner.closed


def test_fingerprint_zfm_wrong_password_is_a_permanent_error(tmp_path: Path) -> None:
    with FingerprintEmulator(link=tmp_path / "fp0", password=0x1234) as emu:
        scanner = scanner_for(emu)
        with pytest.raises(DeviceError, match="password") as info:
            scanner.open()
        assert not info.value.temporary
        with scanner_for(emu, password=0x1234) as ok:
            assert ok.selftest()[0]


def test_fingerprint_zfm_times_out_when_the_sensor_never_answers(tmp_path: Path) -> None:
    with FingerprintEmulator(link=tmp_path / "fp0", faults=Faults(mute=True)) as emu:
        started = time.monotonic()
        with pytest.raises(DeviceTimeout, match="VfyPwd"):
            scanner_for(emu).open()
        assert time.monotonic() - started < 2


def test_fingerprint_zfm_sends_genimg_until_a_finger_is_there(emu: FingerprintEmulator) -> None:
    with scanner_for(emu, **WORKING) as scanner:
        emu.inject(no_finger=3)
        assert scanner.capture(timeout=2).pixels == emu.expected_image(0).pixels
    assert emu.commands.count(zp.GEN_IMG) == 4


def test_fingerprint_zfm_retries_after_bad_checksum(emu: FingerprintEmulator) -> None:
    with scanner_for(emu, **WORKING) as scanner:
        emu.inject(bad_checksum=1)
        assert scanner.capture(timeout=2).pixels == emu.expected_image(0).pixels
    assert emu.commands.count(zp.GEN_IMG) == 2  # the garbled ack made it send GenImg again


def test_fingerprint_zfm_gives_a_protocol_error_when_every_checksum_is_bad(
        emu: FingerprintEmulator) -> None:
    with scanner_for(emu) as scanner:
        emu.inject(bad_checksum=-1)
        with pytest.raises(DeviceProtocolError, match="checksum"):
            scanner.capture(timeout=2)


@pytest.mark.parametrize("fault", ["bad_checksum_image", "stall"],
                         ids=["bad-data-packet", "stall"])
def test_fingerprint_zfm_restarts_the_upload_after_one_fault(emu: FingerprintEmulator,
                                                             fault: str) -> None:
    with scanner_for(emu) as scanner:
        emu.inject(**{fault: 1})
        assert scanner.capture(timeout=2).pixels == emu.expected_image(0).pixels
    assert emu.uploads == 2


def test_fingerprint_zfm_gives_up_when_every_upload_is_corrupt(
        emu: FingerprintEmulator) -> None:
    with scanner_for(emu, image_retries=1) as scanner:
        emu.inject(bad_checksum_image=-1)
        with pytest.raises(DeviceProtocolError, match="UpImage"):
            scanner.capture(timeout=2)
    assert emu.uploads == 2


def test_fingerprint_zfm_resyncs_after_garbage_before_every_reply(
        emu: FingerprintEmulator) -> None:
    with scanner_for(emu) as scanner:
        emu.inject(garbage=-1, no_finger=2)
        assert scanner.capture(timeout=2).pixels == emu.expected_image(0).pixels
        assert scanner.capture(timeout=2).pixels == emu.expected_image(1).pixels


def test_fingerprint_zfm_times_out_when_the_sensor_stalls_every_upload(
        emu: FingerprintEmulator) -> None:
    with scanner_for(emu, image_retries=1) as scanner:
        emu.inject(stall=-1)
        started = time.monotonic()
        with pytest.raises(DeviceTimeout, match="stopped sending"):
            scanner.capture(timeout=2)
        assert time.monotonic() - started < 3


def test_fingerprint_zfm_reconnects_when_the_line_drops_mid_image(
        emu: FingerprintEmulator) -> None:
    with scanner_for(emu) as scanner:
        emu.inject(drop=1)
        assert scanner.capture(timeout=2).pixels == emu.expected_image(0).pixels
        assert scanner.reconnects == 1
        assert emu.drops == 1
        assert scanner.capture(timeout=2).pixels == emu.expected_image(1).pixels


def test_fingerprint_zfm_reopens_a_port_unplugged_between_captures(
        emu: FingerprintEmulator) -> None:
    with scanner_for(emu) as scanner:
        assert scanner.capture(timeout=2).pixels == emu.expected_image(0).pixels
        emu.unplug(0.3)
        time.sleep(0.1)  # the port is gone now; it comes back while the driver retries
        assert scanner.capture(timeout=2).pixels == emu.expected_image(1).pixels
        assert scanner.reconnects == 1
        emu.unplug(None)
        time.sleep(0.1)
        with pytest.raises(DeviceNotFound, match="not back within"):
            assert scanner.is_finger_present


def test_fingerprint_zfm_reports_a_port_that_does_not_come_back(
        emu: FingerprintEmulator) -> None:
    with scanner_for(emu, reconnect_timeout_s=0.5) as scanner:
        emu.inject(disconnect=True)
        started = time.monotonic()
        with pytest.raises(DeviceNotFound, match="not back within"):
            scanner.capture(timeout=2)
        assert time.monotonic() - started < 2.5
        with pytest.raises(DeviceNotFound):  # still gone: fails again, quickly
            scanner.capture(timeout=2)


def test_fingerprint_zfm_gives_up_when_the_line_keeps_dropping(
        emu: FingerprintEmulator) -> None:
    emu.faults.drop_s = 0.05
    with scanner_for(emu, max_reconnects=2) as scanner:
        emu.inject(drop=-1)
        with pytest.raises(DeviceNotFound, match="dropped 3 times"):
            scanner.capture(timeout=2)


def test_fingerprint_zfm_drives_the_r503_led(emu: FingerprintEmulator) -> None:
    with scanner_for(emu, led=True) as scanner:
        scanner.capture(timeout=2)
        assert emu.led == (zp.LED_FLASHING, 0x80, zp.LED_GREEN, 1)
        scanner.set_led(zp.LED_OFF, zp.LED_RED)
        assert emu.led is not None and emu.led[0] == zp.LED_OFF


def test_fingerprint_zfm_makes_and_reads_a_template(emu: FingerprintEmulator) -> None:
    with scanner_for(emu, check_features=True, **WORKING) as scanner:
        scanner.capture(timeout=2)
        assert zp.IMG2TZ in emu.commands
        scanner.image_to_template(1)
        assert len(scanner.read_template(1)) == 512


def test_fingerprint_zfm_logs_frames_on_the_wire_logger_but_not_images(
        emu: FingerprintEmulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="kiosk.wire.fingerprint")
    with scanner_for(emu) as scanner:
        scanner.capture(timeout=2)
    wire = [r.getMessage() for r in caplog.records if r.name == "kiosk.wire.fingerprint"]
    assert "-> GenImg ef 01 ff ff ff ff 01 00 03 01 00 05" in wire
    assert "<- ef 01 ff ff ff ff 07 00 03 00 00 0a" in wire
    assert any(m.startswith("<- data packet 0x08") for m in wire)
    assert max(len(m) for m in wire) < 200  # no image bytes in the log
    assert not any("00 00 00 00 00 1b" in m for m in wire)  # nor the password


def test_fingerprint_zfm_is_registered_with_checked_options(emu: FingerprintEmulator) -> None:
    scanner = create_device("fingerprint", {"type": "zfm", "port": emu.port,
                                            "baudrate": 115200, "timeout_s": 0.2})
    assert isinstance(scanner, ZfmFingerprint)
    with pytest.raises(ConfigError, match="packet_size"):
        create_device("fingerprint", {"type": "zfm", "packet_size": 100})
    with pytest.raises(ConfigError, match="baudrate"):
        ZfmFingerprint(baudrate=12345)


def test_fingerprint_zfm_emulator_fault_specs() -> None:
    faults = Faults()
    for spec in ("no-finger=3", "bad-checksum=always", "stall=once", "drop-every=10",
                 "disconnect", "drop-s=0.1"):
        parse_fault(spec, faults)
    assert (faults.no_finger, faults.bad_checksum, faults.stall, faults.drop_every) == (
        3, -1, 1, 10)
    assert faults.disconnect and faults.drop_s == 0.1
    with pytest.raises(ValueError, match="unknown fault"):
        parse_fault("explode", faults)


# -- the maintainer tool ---------------------------------------------------------------------------
def zfm_config(tmp_path: Path, port: str) -> Path:
    if not (tmp_path / "central" / "central.pub").exists():
        generate_central_keypair(tmp_path / "central")
    path = tmp_path / "kiosk.toml"
    path.write_text(
        f'[kiosk]\ndata_dir = "{tmp_path / "data"}"\ndisk_reserve_bytes = 0\n'
        f'[sealing]\ncentral_key = "{tmp_path / "central" / "central.pub"}"\n'
        f'[hardware.fingerprint]\ntype = "zfm"\nport = "{port}"\ntimeout_s = 0.2\n'
        f'reconnect_timeout_s = 1.0\n')
    return path


def test_fingerprint_capture_command_writes_the_emulator_image(
        emu: FingerprintEmulator, tmp_path: Path) -> None:
    config = load_config(zfm_config(tmp_path, emu.port))
    out, err = io.StringIO(), io.StringIO()
    status = capture_command(config, tmp_path / "finger.png", 2.0, stdout=out, stderr=err)
    assert status == 0, err.getvalue()
    image = FingerprintImage.from_png((tmp_path / "finger.png").read_bytes())
    assert (image.width, image.height, image.ppi) == (256, 288, 500)
    assert image.pixels == emu.expected_image(0).pixels
    assert len(out.getvalue().splitlines()) == 1
    assert out.getvalue().startswith("captured 256x288, 16 gray levels, at 500 ppi")
    assert "(4-bit PNG, " in out.getvalue()


def test_fingerprint_capture_command_fails_with_one_line(
        emu: FingerprintEmulator, tmp_path: Path) -> None:
    emu.inject(no_finger=-1)
    config = load_config(zfm_config(tmp_path, emu.port))
    out, err = io.StringIO(), io.StringIO()
    assert capture_command(config, tmp_path / "f.png", 0.3, stdout=out, stderr=err) == 1
    assert out.getvalue() == ""
    assert err.getvalue().splitlines()[-1].startswith("fingerprint capture failed: timeout")
    assert not (tmp_path / "f.png").exists()
    missing = load_config(zfm_config(tmp_path, str(tmp_path / "gone")))
    err = io.StringIO()
    assert capture_command(missing, tmp_path / "f.png", 0.3, stdout=out, stderr=err) == 1
    assert "DeviceNotFound" in err.getvalue()


@pytest.mark.parametrize("where", ["gone/f.png", "."])
def test_fingerprint_capture_command_refuses_an_unwritable_file_before_asking_for_a_finger(
        emu: FingerprintEmulator, tmp_path: Path, where: str) -> None:
    config = load_config(zfm_config(tmp_path, emu.port))
    out, err = io.StringIO(), io.StringIO()
    assert capture_command(config, tmp_path / where, 2.0, stdout=out, stderr=err) == 1
    assert out.getvalue() == ""
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"fingerprint capture failed: cannot write {tmp_path / where}"), lines
