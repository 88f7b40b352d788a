"""scripts/pi/usr/local/bin/kiosk, the maintainers' `kiosk` on a Pi: who runs the release's
kiosk (root keeps root only for `kiosk update`; every other command drops to user kiosk)
and where (the data directory, for lgpio's named pipe). Run with fake `id` and `runuser`
first on PATH, and a fake release kiosk, each logging its argv and working directory."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

WRAPPER = REPO / "scripts" / "pi" / "usr" / "local" / "bin" / "kiosk"

_LOGGER = """#!/bin/sh
{{ printf '%s' "{name}"; for a do printf ' [%s]' "$a"; done; printf ' cwd=%s\\n' "$PWD"; }} \\
    >> "$WRAPPER_LOG"
"""


def _script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture
def wrapper(tmp_path: Path):
    """run(uid, *args, cwd=..., data_dir=True) -> the log lines: runuser's (if it ran) and
    the release kiosk's."""
    bin_dir, data = tmp_path / "bin", tmp_path / "var-lib-kiosk"
    bin_dir.mkdir()
    data.mkdir()
    release = tmp_path / "release-kiosk"
    _script(release, _LOGGER.format(name="kiosk"))
    # runuser: log, then run what follows `--` (as runuser does, as the other user).
    _script(bin_dir / "runuser", _LOGGER.format(name="runuser")
            + 'while [ "$1" != -- ]; do shift; done; shift; exec "$@"\n')
    _script(bin_dir / "id", '#!/bin/sh\n[ "$1" = -u ] && echo "$FAKE_UID"\n')
    script = tmp_path / "kiosk-wrapper"
    text = WRAPPER.read_text()
    assert "KIOSK=/opt/kiosk/current/bin/kiosk\n" in text and "DATA_DIR=/var/lib/kiosk\n" in text
    script.write_text(text.replace("KIOSK=/opt/kiosk/current/bin/kiosk", f"KIOSK={release}")
                      .replace("DATA_DIR=/var/lib/kiosk", f"DATA_DIR={data}"))
    log = tmp_path / "log"

    def run(uid: int, *args: str, cwd: Path = tmp_path, data_dir: bool = True) -> list[str]:
        if not data_dir:
            shutil.rmtree(data, ignore_errors=True)
        log.write_text("")
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
               "WRAPPER_LOG": str(log), "FAKE_UID": str(uid)}
        done = subprocess.run(["sh", str(script), *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return log.read_text().splitlines()

    run.data = data  # type: ignore[attr-defined]
    run.release = release  # type: ignore[attr-defined]
    return run


@pytest.mark.parametrize("args", [
    ("update", "/media/usb/ektp_kiosk-0.2.0-py3-none-any.whl", "--offline"),
    ("update", "--rollback"),
    ("update", "--list"),
    ("--config", "/etc/kiosk/other.toml", "update", "--rollback"),
    ("--config=/etc/kiosk/other.toml", "update", "--list", "--json"),
])
def test_update_keeps_root_and_the_directory_it_was_typed_in(wrapper, tmp_path: Path,
                                                             args: tuple[str, ...]) -> None:
    typed_in = tmp_path / "maintainer"
    typed_in.mkdir()
    lines = wrapper(0, *args, cwd=typed_in)
    assert lines == ["kiosk " + " ".join(f"[{a}]" for a in args) + f" cwd={typed_in}"]


def test_a_relative_update_source_still_names_the_file(wrapper, tmp_path: Path) -> None:
    typed_in = tmp_path / "usb"
    typed_in.mkdir()
    assert wrapper(0, "update", "ektp.whl", "--find-links", "wheels", cwd=typed_in) == [
        f"kiosk [update] [ektp.whl] [--find-links] [wheels] cwd={typed_in}"]


@pytest.mark.parametrize("args", [("hw", "selftest"), ("status", "--json"), ("doctor",),
                                  ("config", "check"), ("keys", "show"),
                                  ("--config", "/etc/kiosk/kiosk.toml", "journal", "check")])
def test_every_other_command_drops_to_kiosk_in_the_data_directory(
        wrapper, tmp_path: Path, args: tuple[str, ...]) -> None:
    root_home = tmp_path / "root-home"  # where the kiosk user may not write
    root_home.mkdir()
    lines = wrapper(0, *args, cwd=root_home)
    data, release = wrapper.data, wrapper.release
    argv = " ".join(f"[{a}]" for a in args)
    assert lines == [f"runuser [-u] [kiosk] [--] [{release}] {argv} cwd={data}",
                     f"kiosk {argv} cwd={data}"]


def test_relative_file_arguments_still_name_the_files_typed(wrapper, tmp_path: Path) -> None:
    here = tmp_path / "maintainer"
    here.mkdir()
    lines = wrapper(0, "--config", "my.toml", "hw", "camera", "snapshot", "--out", "shot.jpg",
                    cwd=here)
    assert lines[-1] == (f"kiosk [--config] [{here}/my.toml] [hw] [camera] [snapshot] [--out] "
                         f"[{here}/shot.jpg] cwd={wrapper.data}")
    lines = wrapper(0, "metrics", "--textfile=prom", "--config=/abs.toml", "--out=/x.db",
                    cwd=here)
    assert lines[-1] == (f"kiosk [metrics] [--textfile={here}/prom] [--config=/abs.toml] "
                         f"[--out=/x.db] cwd={wrapper.data}")


def test_usb_paths_still_name_the_stick_typed(wrapper, tmp_path: Path) -> None:
    here = tmp_path / "media"
    here.mkdir()
    lines = wrapper(0, "queue", "export", "--to", "usb", cwd=here)
    assert lines[-1] == f"kiosk [queue] [export] [--to] [{here}/usb] cwd={wrapper.data}"
    lines = wrapper(0, "queue", "export", "--from", "old.db", "--to", "usb", cwd=here)
    assert lines[-1] == (f"kiosk [queue] [export] [--from] [{here}/old.db] [--to] "
                         f"[{here}/usb] cwd={wrapper.data}")
    lines = wrapper(0, "queue", "export", "--to=usb", "--again", cwd=here)
    assert lines[-1] == f"kiosk [queue] [export] [--to={here}/usb] [--again] cwd={wrapper.data}"
    lines = wrapper(0, "queue", "import", "usb", "--config", "k.toml", "/mnt/b.receipts",
                    cwd=here)
    assert lines[-1] == (f"kiosk [queue] [import] [{here}/usb] [--config] [{here}/k.toml] "
                         f"[/mnt/b.receipts] cwd={wrapper.data}")
    # only after `queue import`: other verbs' words are not paths
    lines = wrapper(0, "queue", "show", "poso-01-0000001-a1b2c3", cwd=here)
    assert lines[-1] == f"kiosk [queue] [show] [poso-01-0000001-a1b2c3] cwd={wrapper.data}"


def test_without_the_data_directory_root_runs_it_in_tmp(wrapper, tmp_path: Path) -> None:
    lines = wrapper(0, "hw", "selftest", data_dir=False)
    assert [line.rsplit(" cwd=", 1)[1] for line in lines] == ["/tmp", "/tmp"]
    assert lines[0].startswith("runuser [-u] [kiosk] [--] ")


def test_not_root_runs_as_itself_in_the_data_directory(wrapper, tmp_path: Path) -> None:
    lines = wrapper(1000, "hw", "selftest")
    assert lines == [f"kiosk [hw] [selftest] cwd={wrapper.data}"]
    # Without it: where the command was typed (writable here).
    lines = wrapper(1000, "status", data_dir=False)
    assert lines == [f"kiosk [status] cwd={tmp_path}"]


def test_the_wrapper_is_posix_sh_and_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (Debian package shellcheck)")
    result = subprocess.run(["shellcheck", "--shell=sh", str(WRAPPER)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout
    assert WRAPPER.read_text().startswith("#!/bin/sh\n")
