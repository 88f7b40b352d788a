"""``kiosk run`` with a configuration that does not load: the panel says so (the closed
screen, "settings are wrong", the error as technical detail) instead of going blank while
systemd restarts the unit every few seconds; once the file is corrected the app stops by
itself (exit 0), so systemd starts the kiosk again with it."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.conftest import KIOSK, kiosk_env, write_config


def test_a_broken_config_shows_the_closed_screen_until_it_is_fixed(
        tmp_path: Path, xdisplay: str) -> None:
    good = write_config(tmp_path).read_text()
    config = tmp_path / "kiosk.toml"
    config.write_text(good + '[hardware.camera]\ntype = "picamera3"\n')
    env = kiosk_env(config) | {"DISPLAY": xdisplay, "KIVY_NO_CONSOLELOG": "1"}
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as err:
        proc = subprocess.Popen([*KIOSK, "run"], env=env, stdout=subprocess.DEVNULL,
                                stderr=err)
    try:
        deadline = time.monotonic() + 60
        while "not taking enrollments" not in errors.read_text():
            assert proc.poll() is None, errors.read_text()[-2000:]  # no exit 2, no loop
            assert time.monotonic() < deadline, errors.read_text()[-2000:]
            time.sleep(0.5)
        said = errors.read_text()
        assert "not taking enrollments: configuration error" in said
        assert "hardware.camera.type: 'picamera3' is not allowed" in said
        time.sleep(6)  # a recheck finds it still broken: the screen stays
        assert proc.poll() is None
        config.write_text(good)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    said = errors.read_text()
    assert code == 0, said[-2000:]
    assert said.startswith("kiosk: configuration error:")  # the first line, for journalctl
    assert "the configuration loads now" in said
    assert "Traceback" not in said
