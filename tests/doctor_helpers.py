"""Helpers the `kiosk doctor` tests share: run it (as JSON, with a `timedatectl` of the
test's choosing on PATH), and a running intake beside the site."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import KIOSK, kiosk_env
from tests.upload_helpers import IntakeServer, Site

ALL = ("config", "device.fingerprint", "device.camera", "device.card", "device.gpio", "disk",
       "clock", "key.device", "key.central", "key.intake", "key.staff", "intake", "registration",
       "ups", "journal", "backlog", "rejected", "unfinished")


def fake_timedatectl(directory: Path, synced: bool = True, ntp: bool = True) -> Path:
    """A `timedatectl` answering `show` the way systemd-timedated does."""
    directory.mkdir(exist_ok=True)
    script = directory / "timedatectl"
    script.write_text("#!/bin/sh\n"
                      f"echo NTPSynchronized={'yes' if synced else 'no'}\n"
                      f"echo NTP={'yes' if ntp else 'no'}\n")
    script.chmod(0o755)
    return directory


def doctor(site: Site, *args: str, bin_dir: Path | None = None, timeout: float = 90
           ) -> tuple[int, dict[str, dict[str, Any]], subprocess.CompletedProcess[str]]:
    env = kiosk_env(site.config)
    bin_dir = bin_dir or fake_timedatectl(site.root / "bin")
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    done = subprocess.run([*KIOSK, "doctor", "--json", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)
    findings = json.loads(done.stdout)
    assert [f["check"] for f in findings] == list(ALL)  # a stable list, in this order
    for f in findings:
        assert set(f) == {"check", "ok", "detail", "fix", "status"}
        assert f["ok"] == (f["status"] in ("ok", "warn"))
        assert bool(f["fix"]) == (f["status"] in ("warn", "fail")), f
    return done.returncode, {f["check"]: f for f in findings}, done


def configure(site: Site, url: str, extra: str = "", **upload: Any) -> None:
    """The site's config for the intake at ``url``, plus raw TOML ``extra``."""
    site.configure(url, **upload)
    with site.config.open("a") as out:
        out.write(extra)


def intake_fixture() -> Any:
    """An ``intake`` fixture for a test module: ``kiosk-intake serve`` on the site's intake
    data, the site configured for it::

        intake = intake_fixture()
    """
    @pytest.fixture
    def intake(site: Site) -> Iterator[IntakeServer]:
        with IntakeServer(site.intake_dir) as server:
            configure(site, server.url)
            yield server

    return intake
