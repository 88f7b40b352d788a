"""`kiosk keys show` and `kiosk keys init` when the central office's key is not (yet) there:
the device key is what a maintainer registers, so it is shown all the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.cli import main
from kiosk.core.exits import EXIT_CONFIG
from kiosk.sealing import DeviceKey
from tests.conftest import write_config


def _kiosk(capsys: pytest.CaptureFixture[str], config: Path, *args: str
           ) -> tuple[int, str, str]:
    code = main([*args, "--config", str(config)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("verb", ["show", "init"])
def test_a_missing_central_key_is_named_and_the_device_key_shown(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: str) -> None:
    """`kiosk keys show` with central.pub missing exited 1 and showed no device key, where
    `kiosk config check` says 2 for the same fault (README: 2, a configuration error)."""
    central = tmp_path / "etc" / "central.pub"
    config_path = write_config(tmp_path, f'[sealing]\ncentral_key = "{central}"\n')
    (tmp_path / "data").mkdir()
    device = DeviceKey.load_or_create(tmp_path / "data" / "device.key")
    code, out, err = _kiosk(capsys, config_path, "keys", verb)
    # init's work (the device key) is done: the central key is README's next step
    assert code == (EXIT_CONFIG if verb == "show" else 0), err
    assert "kiosk id:        test-01" in out
    assert f"device key id:   {device.key_id}" in out
    assert f"device key:      {device.public_bytes.hex()}" in out
    assert f"central key id:  none: central public key {central} is missing" in out, out
    assert f"--key {device.public_bytes.hex()}" in out
    assert len(err.strip().splitlines()) == 1, err
    words = "configuration error" if verb == "show" else "next"
    assert err.startswith(f"kiosk keys {verb}: {words}: sealing.central_key: "
                          f"central public key {central} is missing"), err
    assert "copy that file" in err and "kiosk-intake keys init" in err, err
    check, _out, check_err = _kiosk(capsys, config_path, "config", "check")
    if verb == "show":
        assert check == code, check_err  # one fault, one exit status


def test_a_central_key_file_of_another_kind_is_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    central = tmp_path / "central.pub"
    central.write_text("not a key\n")
    config_path = write_config(tmp_path, f'[sealing]\ncentral_key = "{central}"\n')
    (tmp_path / "data").mkdir()
    DeviceKey.load_or_create(tmp_path / "data" / "device.key")
    code, out, err = _kiosk(capsys, config_path, "keys", "show")
    assert code == 2 and "device key id:" in out, err
    assert f"{central} is not a central public key" in err, err
