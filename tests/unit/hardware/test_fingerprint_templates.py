"""Telling fingers apart: the minutiae matcher, the simulated sensor's prints, and the
ZhianTec template commands (Img2Tz, UpChar, DownChar, Match) through the emulator on a pty,
driven by the real driver."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kiosk.errors import CaptureRejected
from kiosk.hardware.fingerprint import minutiae
from kiosk.hardware.fingerprint import zfm_protocol as zp
from kiosk.hardware.fingerprint.emulator import FingerprintEmulator
from kiosk.hardware.fingerprint.sim import SimFingerprint
from kiosk.hardware.fingerprint.zfm import ZfmFingerprint

pytestmark = pytest.mark.timeout(120)

FAST = {"timeout_s": 0.5, "reconnect_timeout_s": 2.0, "poll_interval_s": 0.01}


def template(scanner: SimFingerprint, finger: int, impression: int, person: int) -> bytes:
    image = scanner.generate(finger, impression, person=person)
    return minutiae.extract_template(image.pixels, image.width, image.height)


# -- the matcher --------------------------------------------------------------------------------
def test_minutiae_two_impressions_of_one_finger_match_and_other_fingers_do_not() -> None:
    sim = SimFingerprint()
    for person in (11, 12):
        first = [template(sim, f, 0, person) for f in range(10)]
        again = [template(sim, f, 1, person) for f in range(10)]
        for f in range(10):
            assert minutiae.match_score(first[f], again[f]) >= minutiae.MATCH_THRESHOLD
            others = [minutiae.match_score(first[f], again[g]) for g in range(10) if g != f]
            assert max(others) < minutiae.MATCH_THRESHOLD


def test_minutiae_the_same_finger_of_another_person_does_not_match() -> None:
    sim = SimFingerprint()
    for f in range(4):
        assert minutiae.match_score(template(sim, f, 0, 21),
                                    template(sim, f, 0, 22)) < minutiae.MATCH_THRESHOLD


def test_minutiae_template_round_trips_in_512_bytes() -> None:
    found = [minutiae.Minutia(10, 287, 0.5, False), minutiae.Minutia(255, 3, 3.0, True)]
    data = minutiae.encode_template(found)
    assert len(data) == minutiae.TEMPLATE_BYTES == zp.TEMPLATE_BYTES
    back = minutiae.decode_template(data)
    assert [(m.x, m.y, m.bifurcation) for m in back] == [(10, 287, False), (255, 3, True)]
    # Angles in 1/256 of pi: within half a step (0.0062 rad).
    assert [abs(m.angle - a) <= 0.0062 for m, a in zip(back, (0.5, 3.0), strict=True)] == [
        True, True]


@pytest.mark.parametrize("data", [b"", bytes(512), b"KM\x02" + bytes(509),
                                  b"KM\x01\xff" + bytes(508)])
def test_minutiae_refuses_bytes_that_are_not_a_template(data: bytes) -> None:
    with pytest.raises(ValueError):
        minutiae.decode_template(data)


def test_minutiae_a_blank_image_has_no_minutiae() -> None:
    assert minutiae.extract(bytes([230]) * (256 * 288), 256, 288) == []


# -- the simulated sensor -----------------------------------------------------------------------
def test_sim_prints_differ_per_finger_and_person_and_repeat_per_seed() -> None:
    with SimFingerprint(seed=3) as a, SimFingerprint(seed=3) as b:
        images = {}
        for person in (1, 2):
            for finger in (0, 1):
                a.present(finger, person=person)
                images[person, finger] = a.capture(timeout=1)
                b.present(finger, person=person)
                assert b.capture(timeout=1) == images[person, finger]  # same seed, same bytes
    assert len({img.pixels for img in images.values()}) == 4
    assert all(img.bits == 4 and set(img.pixels) <= {n * 17 for n in range(16)}
               for img in images.values())


def test_sim_without_present_shows_a_new_finger_each_capture() -> None:
    with SimFingerprint(seed=9) as scanner:
        templates: list[bytes] = []
        for _ in range(10):
            scanner.capture(timeout=1)
            probe = scanner.extract_template()
            assert scanner.find_match(probe, templates) is None
            templates.append(probe)


def test_sim_refuses_a_template_without_an_image() -> None:
    with SimFingerprint() as scanner, pytest.raises(CaptureRejected):
        scanner.extract_template()


# -- the ZFM commands, through the emulator -----------------------------------------------------
FRAMES = [
    ("DownChar buffer 2", zp.command(zp.DOWN_CHAR, b"\x02"),
     "ef 01 ff ff ff ff 01 00 04 09 02 00 10"),
    ("Match", zp.command(zp.MATCH), "ef 01 ff ff ff ff 01 00 03 03 00 07"),
    ("UpChar buffer 1", zp.command(zp.UP_CHAR, b"\x01"),
     "ef 01 ff ff ff ff 01 00 04 08 01 00 0e"),
    ("Match ack: no match, score 18", zp.ack(zp.NO_MATCH, b"\x00\x12"),
     "ef 01 ff ff ff ff 07 00 05 08 00 12 00 26"),
]


@pytest.mark.parametrize(("name", "frame", "expected"), FRAMES, ids=[f[0] for f in FRAMES])
def test_zfm_template_commands_are_framed_as_the_manual_shows(name: str, frame: bytes,
                                                              expected: str) -> None:
    assert frame.hex(" ") == expected


def test_zfm_templates_are_made_and_matched_by_the_module(emu: FingerprintEmulator) -> None:
    # Which fingers match is the contract's (test_fingerprint_same_finger_twice_...); here:
    # each template comes from the module (Img2Tz, UpChar), each match too (DownChar, Match).
    with ZfmFingerprint(port=emu.port, **FAST) as scanner:
        probes = []
        for finger in (2, 3, 2):
            emu.present(finger, person=31)
            scanner.capture(timeout=3)
            probes.append(scanner.extract_template())
        scanner.find_match(probes[2], probes[:2])
    sent = emu.commands
    assert sent.count(zp.IMG2TZ) == 3 and sent.count(zp.UP_CHAR) == 3
    assert zp.DOWN_CHAR in sent and zp.MATCH in sent


def test_zfm_emulator_templates_are_what_the_sim_extracts_from_the_same_image(
        emu: FingerprintEmulator) -> None:
    with ZfmFingerprint(port=emu.port, **FAST) as scanner:
        image = scanner.capture(timeout=3)
        assert scanner.extract_template() == minutiae.extract_template(
            image.pixels, image.width, image.height)


def test_zfm_img2tz_on_a_featureless_image_is_a_capture_rejection(tmp_path: Path) -> None:
    flat = bytes([119, 136]) * (256 * 288 // 2)  # two levels in stripes one pixel wide
    with FingerprintEmulator(link=tmp_path / "fp0", images=flat) as emu, \
            ZfmFingerprint(port=emu.port, **FAST) as scanner:
        scanner.capture(timeout=3)
        with pytest.raises(CaptureRejected):
            scanner.extract_template()


def test_zfm_match_refuses_a_template_of_the_wrong_size(emu: FingerprintEmulator) -> None:
    with ZfmFingerprint(port=emu.port, **FAST) as scanner, pytest.raises(ValueError):
        scanner.find_match(b"short", [bytes(512)])


def test_zfm_template_bytes_never_reach_the_wire_log(
        emu: FingerprintEmulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="kiosk.wire.fingerprint")
    with ZfmFingerprint(port=emu.port, **FAST) as scanner:
        scanner.capture(timeout=3)
        probe = scanner.extract_template()
        scanner.find_match(probe, [probe])
    wire = [r.getMessage() for r in caplog.records if r.name == "kiosk.wire.fingerprint"]
    assert "-> Match ef 01 ff ff ff ff 01 00 03 03 00 07" in wire
    assert any("DownChar data: 4 packets (not shown)" in m for m in wire)
    shown = " ".join(wire)
    assert probe[4:20].hex(" ") not in shown
    assert max(len(m) for m in wire) < 200
