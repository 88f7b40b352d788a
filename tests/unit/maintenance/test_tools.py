"""The maintainer tools behind ``kiosk hw camera snapshot`` and ``kiosk hw gpio test``."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from kiosk.config import load_config
from kiosk.maintenance.camera import snapshot_command
from kiosk.maintenance.gpio import gpio_test_command
from tests.conftest import write_config


def run(command, *args, **kwargs) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = command(*args, stdout=out, stderr=err, **kwargs)
    return status, out.getvalue(), err.getvalue()


def test_snapshot_writes_a_portrait_jpeg_and_says_so(tmp_path: Path):
    config = load_config(write_config(tmp_path, "[hardware.camera]\ntype = \"sim\"\nseed = 3\n"))
    target = tmp_path / "snap.jpg"
    status, out, err = run(snapshot_command, config, target)
    assert status == 0, err
    with Image.open(target) as image:
        assert image.format == "JPEG" and image.size == (480, 640)
    assert out.startswith(f"wrote {target}: 480x640 JPEG, ") and "camera sim" in out
    assert err == ""
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_snapshot_failure_exits_1_with_the_reason_and_writes_nothing(tmp_path: Path):
    config = load_config(write_config(
        tmp_path, "[hardware.camera]\ntype = \"sim\"\nfail_every = 1\n"))
    target = tmp_path / "snap.jpg"
    status, out, err = run(snapshot_command, config, target)
    assert status == 1 and out == ""
    assert err.startswith("camera snapshot failed: ") and "simulated camera timeout" in err
    assert not target.exists()


def test_snapshot_to_an_unwritable_place_exits_1(tmp_path: Path):
    config = load_config(write_config(tmp_path))
    status, _, err = run(snapshot_command, config, tmp_path / "no-such-dir" / "x.jpg")
    assert status == 1 and "No such file or directory" in err


@pytest.mark.parametrize("where", ["no-such-dir/x.jpg", "."])
def test_snapshot_names_the_file_asked_for_not_its_temporary(tmp_path: Path, where: str):
    config = load_config(write_config(tmp_path))
    target = tmp_path / where
    status, _, err = run(snapshot_command, config, target)
    assert status == 1
    assert err.startswith(f"camera snapshot failed: cannot write {target}: "), err
    assert ".tmp-" not in err


def test_snapshot_with_a_missing_webcam_names_the_device(tmp_path: Path):
    (tmp_path / "central.pub").write_bytes(b"")
    config = load_config(write_config(tmp_path, (
        "[sealing]\ncentral_key = \"central.pub\"\n"
        "[hardware.camera]\ntype = \"v4l2\"\ndevice = \"/dev/video-kiosk-test-none\"\n")))
    status, _, err = run(snapshot_command, config, tmp_path / "x.jpg")
    assert status == 1 and "/dev/video-kiosk-test-none does not exist" in err


def test_gpio_test_on_mock_pins_drives_every_input_and_passes(tmp_path: Path):
    config = load_config(write_config(tmp_path, "[hardware.gpio]\ntype = \"mock\"\npir_pin = 25\n"))
    status, out, err = run(gpio_test_command, config, pause_s=0.7)
    assert status == 0, out + err
    lines = out.splitlines()
    assert not [line for line in lines if line.startswith("FAIL")]
    for needle in ("status LED ready", "status LED busy", "status LED fault", "buzzer: 2 beep",
                   "help button press", "tamper switch opening", "mains lost",
                   "mains restored", "PIR motion"):
        assert any(line.startswith("ok") and needle in line for line in lines), needle
    for state in ("help button: up", "tamper switch: closed", "power-fail line: mains present",
                  "PIR: quiet"):
        assert any(state in line for line in lines), state


def test_gpio_test_fails_when_an_event_does_not_arrive(tmp_path: Path, monkeypatch):
    from kiosk.hardware.gpio import KioskGpio

    # A broken callback path: the tamper callback is never wired to the pin.
    monkeypatch.setattr(KioskGpio, "when_tampered", property(
        lambda self: None, lambda self, value: None))
    monkeypatch.setattr("kiosk.maintenance.gpio.EVENT_TIMEOUT_S", 0.2)
    config = load_config(write_config(tmp_path))
    status, out, err = run(gpio_test_command, config, pause_s=0.7)
    assert status == 1
    assert any(line.startswith("FAIL tamper switch opening") for line in out.splitlines())
    assert "1 check(s) failed" in err


def test_gpio_test_native_without_gpio_chip_exits_1_with_reason(tmp_path: Path, monkeypatch):
    from gpiozero import Device as GpioDevice

    monkeypatch.setattr(GpioDevice, "pin_factory", None)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "kiosk-no-such-factory")
    (tmp_path / "central.pub").write_bytes(b"")
    config = load_config(write_config(tmp_path, (
        "[sealing]\ncentral_key = \"central.pub\"\n[hardware.gpio]\ntype = \"native\"\n")))
    status, _, err = run(gpio_test_command, config)
    assert status == 1
    assert err.startswith("gpio test failed: GPIO not usable")


@pytest.mark.parametrize("interactive", [False, True])
def test_gpio_test_interactive_prompts_and_times_out_without_a_person(tmp_path: Path,
                                                                     monkeypatch, interactive):
    # A "native" kiosk whose pins are mock pins: nobody presses anything.
    from kiosk.hardware import gpio as gpio_module

    monkeypatch.setattr(gpio_module.NativeKioskGpio, "_make_factory",
                        gpio_module.MockKioskGpio._make_factory)
    (tmp_path / "central.pub").write_bytes(b"")
    config = load_config(write_config(tmp_path, (
        "[sealing]\ncentral_key = \"central.pub\"\n[hardware.gpio]\ntype = \"native\"\n")))
    status, out, _ = run(gpio_test_command, config, interactive=interactive, pause_s=0.01,
                         prompt_timeout_s=0.1)
    if interactive:
        assert status == 1
        assert "-> press the help button within 0.1 s" in out
        assert "FAIL press the help button: when_help_pressed not seen within 0.1 s" in out
    else:
        assert status == 0
        assert "inputs read only" in out and "status LED busy: should be" in out


# -- kiosk hw card check / chuid ----------------------------------------------------------
CARD = '[hardware.card]\ntype = "sim"\npin = "246810"\nstaff_id = "STAFF-0042"\n'


def test_card_check_logs_a_good_card_in_step_by_step(tmp_path: Path, capsys):
    from kiosk.maintenance.card import check_command

    config = load_config(write_config(tmp_path, CARD))
    assert check_command(config, pin="246810") == 0
    out = capsys.readouterr().out
    assert "staff id (CHUID): 'STAFF-0042'" in out
    assert "this kiosk logs the card in" in out
    assert "246810" not in out


@pytest.mark.parametrize(("body", "pin", "fault", "code", "said"), [
    (CARD, "000000", None, 1, "Wrong PIN. Tries left: 2."),
    (CARD, "246810", "other_ca", 1, "could not be checked. Ask an administrator. (certificate "
                                    "refused: not issued"),
    ('[hardware.card]\ntype = "pcsc"\n', "246810", None, 2, "trusts no staff-card CA"),
])
def test_card_check_says_why_a_card_is_refused(tmp_path: Path, capsys, monkeypatch, body,
                                               pin, fault, code, said):
    import functools

    from kiosk.hardware.card import sim
    from kiosk.maintenance.card import check_command

    if fault is not None:  # a card another CA issued, in the simulated reader
        monkeypatch.setattr(sim, "PivCard", functools.partial(sim.PivCard, auth_fault=fault))
    config = load_config(write_config(tmp_path, body))
    assert check_command(config, pin=pin) == code
    assert said in capsys.readouterr().err


def _dev_crl(path: Path, *staff_ids: str) -> None:
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives import serialization

    from kiosk.hardware.card import devca

    crl = devca.issue_crl(devca.dev_ca_key(), devca.dev_ca_certificate(),
                          [devca.dev_card_certificate(s).serial_number for s in staff_ids],
                          last_update=datetime.now(UTC))
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))


def test_card_check_refuses_a_revoked_card_and_says_so(tmp_path: Path, capsys):
    from kiosk.hardware.card import devca
    from kiosk.hardware.card.trust import serial_hex
    from kiosk.maintenance.card import check_command

    _dev_crl(tmp_path / "crl.pem", "STAFF-0042")
    config = load_config(write_config(tmp_path, CARD + '[staff]\ncrl = "crl.pem"\n'))
    assert check_command(config, pin="246810") == 1
    out, err = capsys.readouterr()
    assert "revocation list: CRL of CN=e-KTP kiosk development staff CA" in out
    serial = serial_hex(devca.dev_card_certificate("STAFF-0042").serial_number)
    assert f"revocation: REVOKED, certificate serial {serial} revoked on" in out
    assert "(keyCompromise)" in out
    assert "card check: refused: " in err and "the office revoked this card" in err
    assert "246810" not in out + err


def test_card_check_says_a_card_is_not_on_the_crl_or_that_there_is_none(tmp_path: Path,
                                                                         capsys):
    from kiosk.hardware.card import devca
    from kiosk.hardware.card.trust import serial_hex
    from kiosk.maintenance.card import check_command

    serial = serial_hex(devca.dev_card_certificate("STAFF-0042").serial_number)
    _dev_crl(tmp_path / "crl.pem", "STAFF-0001")
    config = load_config(write_config(tmp_path, CARD + '[staff]\ncrl = "crl.pem"\n'))
    assert check_command(config, pin="246810") == 0
    out = capsys.readouterr().out
    assert f"revocation: certificate serial {serial} is not on {tmp_path / 'crl.pem'}" in out
    assert check_command(load_config(write_config(tmp_path, CARD)), pin="246810") == 0
    out = capsys.readouterr().out
    assert "revocation list: none ([staff] crl is not set)" in out
    assert f"revocation: not checked (no CRL); certificate serial {serial}" in out


def test_card_check_with_an_unusable_crl_refuses_every_card(tmp_path: Path, capsys):
    from kiosk.maintenance.card import check_command

    (tmp_path / "crl.pem").write_bytes(b"not a CRL")
    config = load_config(write_config(tmp_path, CARD + '[staff]\ncrl = "crl.pem"\n'))
    assert check_command(config, pin="246810") == 2
    assert "[staff] crl is unusable" in capsys.readouterr().err


def test_card_chuid_is_the_object_a_card_tool_writes(tmp_path: Path, capsys):
    from kiosk.hardware.card import piv
    from kiosk.maintenance.card import chuid_command

    out = tmp_path / "chuid.bin"
    assert chuid_command("STAFF-0042", out) == 0
    contents = out.read_bytes()
    # What GET DATA returns once a tool has written it (the card adds the 53 wrapper).
    assert piv.staff_id_from_chuid(piv.tlv(0x53, contents)) == "STAFF-0042"
    assert len(contents) == 59  # the CHUID layout yubico-piv-tool and YubiKeys use
    assert chuid_command("STAFF\x1b", None) == 2
    assert "1-16 printable ASCII" in capsys.readouterr().err


def test_card_check_without_a_terminal_or_a_pin_says_how_not_a_traceback(
        tmp_path: Path, capsys, monkeypatch):
    """``kiosk hw card check </dev/null`` (or over ``ssh`` without ``-t``) ended in
    getpass's warning and an EOFError traceback; Ctrl-D at the prompt likewise."""
    import io
    import sys

    from kiosk.maintenance.card import check_command

    config = load_config(write_config(tmp_path, CARD))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal
    assert check_command(config) == 1
    err = capsys.readouterr().err
    assert "the PIN is asked on a terminal" in err and "--pin-stdin" in err

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    def ctrl_d(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr(sys, "stdin", Terminal(""))
    monkeypatch.setattr("getpass.getpass", ctrl_d)
    assert check_command(config) == 1
    assert "card check: no PIN given" in capsys.readouterr().err


def test_capture_and_selftest_on_a_port_the_running_kiosk_holds_say_so_and_how_to_free_it(
        tmp_path: Path):
    """`kiosk hw fingerprint capture` while the kiosk holds the sensor's port said
    "DeviceNotFound: Could not exclusively lock port ...; check hardware.fingerprint.port and
    that the serial console is off", and the self-test the same: the port works, for another
    process. Both name it (from /proc/locks) and say how to stop the touchscreen."""
    import os
    import subprocess
    import sys

    from kiosk.maintenance.fingerprint import capture_command
    from kiosk.status import device_selftest

    controller, peer = os.openpty()
    link = tmp_path / "fp0"
    link.symlink_to(os.ttyname(peer))
    holder = subprocess.Popen(  # as the touchscreen holds it: pyserial's exclusive open
        [sys.executable, "-c", "import serial, sys, time\n"
         f"s = serial.Serial({str(link)!r}, exclusive=True)\n"
         "print('held', flush=True); time.sleep(120)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        config = load_config(write_config(
            tmp_path, f'[hardware.fingerprint]\ntype = "zfm"\nport = "{link}"\n'))
        out, err = io.StringIO(), io.StringIO()
        assert capture_command(config, tmp_path / "f.png", 1.0, stdout=out, stderr=err) == 1
        line = err.getvalue().strip()
        assert line.startswith(f"fingerprint capture failed: the sensor on {link} is in use, "
                               f"held by process {holder.pid} ("), line
        assert "sudo systemctl stop kiosk-ui" in line and "serial console" not in line, line
        result = device_selftest(config, "fingerprint")
        assert result["held"] and not result["ok"]
        assert result["detail"].startswith(f"{link} is in use: held by another program, "
                                           f"process {holder.pid} ("), result
        assert "serial console" not in result["detail"]
    finally:
        holder.kill()
        holder.wait()
        os.close(controller)
        os.close(peer)
