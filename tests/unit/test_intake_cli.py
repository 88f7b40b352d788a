"""``kiosk-intake``'s own commands (intake/cli.py), run in process: registering and revoking
kiosks, what each refuses, and how each fails (a full or read-only disk, Ctrl-C, a --data that
is not an intake's)."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from intake import cli
from intake.cli import main
from intake.devices import registration, trusted_keys
from kiosk.core.exits import EXIT_INTERRUPTED

KEY_A = "aa" * 32  # the key the kiosk registered with (later stolen with it)
KEY_B = "bb" * 32  # another key: a re-installed kiosk's, or another kiosk's typed by mistake


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """An intake's data directory as `register` knows one (its central key there)."""
    directory = tmp_path / "intake"
    (directory / "keys").mkdir(parents=True)
    (directory / "keys" / "central.key").write_text("stand-in\n")
    return directory


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        status = main(list(argv))
    except KeyboardInterrupt:  # a traceback for the maintainer (and the end of pytest's run)
        pytest.fail("KeyboardInterrupt escaped kiosk-intake")
    out, err = capsys.readouterr()
    return status, out, err


def register(capsys: pytest.CaptureFixture[str], data: Path, kiosk: str, key: str,
             *options: str) -> tuple[int, str, str]:
    return run(capsys, "register", "--data", str(data), "--kiosk", kiosk, "--key", key,
               *options)


def entry(data: Path, kiosk: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((data / "devices" / f"{kiosk}.json").read_text())
    return loaded


# -- register: never a silent re-trust or replacement ----------------------------------------
def test_registering_the_same_key_again_is_idempotent(
        data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert register(capsys, data, "poso-01", KEY_A)[:2] == (0, "registered kiosk poso-01\n")
    before = entry(data, "poso-01")
    status, out, err = register(capsys, data, "poso-01", KEY_A.upper())
    assert status == 0 and err == "" and "already registered" in out, (out, err)
    assert entry(data, "poso-01") == before


def test_a_revoked_kiosk_is_not_trusted_again_by_register(
        data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """register -> revoke (stolen) -> register again with the thief's copy of the key: it was
    `registered kiosk poso-01`, exit 0, and the revocation gone."""
    register(capsys, data, "poso-01", KEY_A)
    assert run(capsys, "revoke", "--data", str(data), "--kiosk", "poso-01")[0] == 0
    revoked = entry(data, "poso-01")
    status, out, err = register(capsys, data, "poso-01", KEY_A)
    assert status == 1 and out == "", out
    assert err.count("\n") == 1 and "poso-01" in err and "revoked" in err, err
    assert "--unrevoke" in err, err
    assert entry(data, "poso-01") == revoked
    assert trusted_keys(data) == {}
    # with another key (the kiosk re-installed): --replace, not a plain register either
    status, _out, err = register(capsys, data, "poso-01", KEY_B)
    assert status == 1 and "revoked" in err and "--replace" in err, err
    assert entry(data, "poso-01") == revoked


def test_unrevoke_trusts_a_revoked_kiosk_again_and_keeps_the_revocation_on_record(
        data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    register(capsys, data, "poso-01", KEY_A)
    run(capsys, "revoke", "--data", str(data), "--kiosk", "poso-01")
    revoked_at = entry(data, "poso-01")["revoked_at"]
    status, out, err = register(capsys, data, "poso-01", KEY_A, "--unrevoke")
    assert status == 0 and err == "", err
    assert "poso-01" in out and "again" in out and str(revoked_at) in out, out
    device = registration(data, "poso-01")
    assert device is not None and not device.revoked and device.public_key.hex() == KEY_A
    history = entry(data, "poso-01")["history"]
    assert isinstance(history, list) and len(history) == 1
    assert history[0]["public_key"] == KEY_A and history[0]["revoked_at"] == revoked_at
    # --unrevoke trusts the key that was revoked, not a new one
    run(capsys, "revoke", "--data", str(data), "--kiosk", "poso-01")
    status, _out, err = register(capsys, data, "poso-01", KEY_B, "--unrevoke")
    assert status == 1 and "--replace" in err, err
    assert registration(data, "poso-01").revoked  # type: ignore[union-attr]


def test_another_key_for_a_registered_kiosk_is_refused_without_replace(
        data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A mistyped --kiosk (poso-01 for poso-02) replaced poso-01's working key."""
    register(capsys, data, "poso-01", KEY_A)
    before = entry(data, "poso-01")
    status, out, err = register(capsys, data, "poso-01", KEY_B)
    assert status == 1 and out == "", out
    assert err.count("\n") == 1 and "poso-01" in err and "another key" in err, err
    assert "--replace" in err and "--kiosk" in err, err
    assert entry(data, "poso-01") == before
    status, out, err = register(capsys, data, "poso-01", KEY_B, "--replace")
    assert status == 0 and err == "" and "replaced" in out, (out, err)
    device = registration(data, "poso-01")
    assert device is not None and device.public_key.hex() == KEY_B and not device.revoked
    history = entry(data, "poso-01")["history"]
    assert isinstance(history, list) and history[-1]["public_key"] == KEY_A


def test_replace_gives_a_revoked_kiosk_a_new_key_and_never_the_revoked_one(
        data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    register(capsys, data, "poso-01", KEY_A)
    run(capsys, "revoke", "--data", str(data), "--kiosk", "poso-01")
    status, out, _err = register(capsys, data, "poso-01", KEY_B, "--replace")
    assert status == 0 and "replaced" in out
    assert list(trusted_keys(data).values()) == [bytes.fromhex(KEY_B)]
    run(capsys, "revoke", "--data", str(data), "--kiosk", "poso-01")
    # the key that was revoked comes back only with --unrevoke
    status, _out, err = register(capsys, data, "poso-01", KEY_B, "--replace")
    assert status == 1 and "--unrevoke" in err, err


def test_revoke_keeps_what_the_registration_recorded(
        data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    register(capsys, data, "poso-01", KEY_A)
    register(capsys, data, "poso-01", KEY_B, "--replace")
    history = entry(data, "poso-01")["history"]
    run(capsys, "revoke", "--data", str(data), "--kiosk", "poso-01")
    after = entry(data, "poso-01")
    assert after["revoked"] is True and after["history"] == history


def test_a_registration_file_that_does_not_load_is_replaced_only_when_asked(
        data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (data / "devices").mkdir()
    (data / "devices" / "poso-01.json").write_text("{not json\n")
    status, _out, err = register(capsys, data, "poso-01", KEY_A)
    assert status == 1 and "--replace" in err and err.count("\n") == 1, err
    assert "does not load (Expecting property name" in err, err
    assert register(capsys, data, "poso-01", KEY_A, "--replace")[0] == 0
    assert registration(data, "poso-01") is not None


def test_register_help_names_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["register", "--help"])
    out = capsys.readouterr().out
    assert "--replace" in out and "--unrevoke" in out


# -- a full or read-only disk: one line, what it means, exit 1 -------------------------------
def _fails(code: int, filename: str | None = None) -> Callable[..., None]:
    """A write that fails as a full (ENOSPC: a write names no file) or read-only (EROFS:
    the file or directory it could not make) disk fails."""
    def write(*_args: object, **_kwargs: object) -> None:
        raise OSError(code, os.strerror(code), *([filename] if filename else []))
    return write


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_register_on_a_disk_that_takes_nothing_says_the_kiosk_is_not_registered(
        data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        code: int) -> None:
    monkeypatch.setattr(cli, "make_dirs", _fails(code, str(data / "devices")))
    status, out, err = register(capsys, data, "poso-01", KEY_A)
    assert (status, out) == (1, ""), out
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert str(data / "devices") in err and os.strerror(code) in err, err
    assert "kiosk poso-01 is NOT registered" in err, err


def test_a_replacement_that_cannot_be_written_keeps_the_old_key(
        data: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    register(capsys, data, "poso-01", KEY_A)
    before = entry(data, "poso-01")
    monkeypatch.setattr(cli, "write_atomic", _fails(errno.ENOSPC))
    status, _out, err = register(capsys, data, "poso-01", KEY_B, "--replace")
    assert status == 1 and err.count("\n") == 1, err
    assert str(data / "devices" / "poso-01.json") in err and "No space left" in err, err
    assert "keeps its key" in err, err
    assert entry(data, "poso-01") == before


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_revoke_on_a_disk_that_takes_nothing_says_the_kiosk_is_still_trusted(
        data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        code: int) -> None:
    register(capsys, data, "poso-01", KEY_A)
    monkeypatch.setattr(cli, "write_atomic", _fails(code))
    status, out, err = run(capsys, "revoke", "--data", str(data), "--kiosk", "poso-01")
    assert (status, out) == (1, ""), out
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert str(data / "devices" / "poso-01.json") in err and os.strerror(code) in err, err
    assert "kiosk poso-01 is NOT revoked: it is still trusted" in err, err
    assert list(trusted_keys(data).values()) == [bytes.fromhex(KEY_A)]


@pytest.mark.parametrize(("target", "code"), [
    ("kiosk.sealing_keys.make_dirs", errno.EROFS),     # a read-only disk: no keys/ made
    ("kiosk.sealing_keys.write_atomic", errno.ENOSPC),  # full: central.key not written
    ("kiosk.receipts.write_atomic", errno.ENOSPC),      # full: intake.pub not written
    ("intake.tls.write_atomic", errno.ENOSPC),          # full: the TLS pair not written
])
def test_keys_init_on_a_disk_that_takes_nothing_says_so_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        target: str, code: int) -> None:
    monkeypatch.setattr(target, _fails(code, str(tmp_path / "new" / "keys")
                                       if code == errno.EROFS else None))
    status, _out, err = run(capsys, "keys", "init", "--data", str(tmp_path / "new"))
    assert status == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert str(tmp_path / "new" / "keys") in err and os.strerror(code) in err, err
    assert "NOT all made" in err and "keys init again" in err, err


def test_keys_init_again_completes_a_pair_a_full_disk_cut_short(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """central.key written, central.pub not (the disk filled between them): the second
    keys init made the public key again instead of "kept as it is" without one."""
    data = tmp_path / "intake"
    assert run(capsys, "keys", "init", "--data", str(data))[0] == 0
    public = (data / "keys" / "central.pub").read_bytes()
    (data / "keys" / "central.pub").unlink()
    status, out, err = run(capsys, "keys", "init", "--data", str(data))
    assert status == 0 and "made again" in out, err
    assert (data / "keys" / "central.pub").read_bytes() == public


# -- Ctrl-C: one line and 130, as `kiosk`'s commands -----------------------------------------
def _interrupt(*_args: object, **_kwargs: object) -> None:
    raise KeyboardInterrupt


def test_ctrl_c_during_an_import_says_what_stays_and_exits_130(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / "poso-01-000001-to-000002.ektp").write_bytes(b"")
    monkeypatch.setattr("intake.imports.run", _interrupt)
    status, _out, err = run(capsys, "import", "--data", str(data), str(stick))
    assert status == EXIT_INTERRUPTED == 130
    assert err == ("kiosk-intake import: interrupted (Ctrl-C); what was stored stays stored: "
                   "import again to finish\n"), err


@pytest.mark.parametrize(("target", "argv"), [
    ("intake.cli.write_atomic", ["register", "--kiosk", "poso-02", "--key", KEY_B]),
    ("intake.cli.write_atomic", ["revoke", "--kiosk", "poso-01"]),
    ("intake.metadata.read_stats", ["stats"]),
    ("intake.server.serve", ["serve", "--port", "0"]),
])
def test_ctrl_c_in_any_command_is_one_line_and_130(
        data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        target: str, argv: list[str]) -> None:
    register(capsys, data, "poso-01", KEY_A)
    monkeypatch.setattr(target, _interrupt)
    status, _out, err = run(capsys, argv[0], "--data", str(data), *argv[1:])
    assert status == 130, err
    assert err.startswith(f"kiosk-intake {argv[0]}: interrupted (Ctrl-C)"), err
    assert err.count("\n") == 1 and "Traceback" not in err, err


def test_ctrl_c_during_keys_init_says_to_run_it_again(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("intake.cli.generate_central_keypair", _interrupt)
    status, _out, err = run(capsys, "keys", "init", "--data", str(tmp_path / "new"))
    assert status == 130
    assert err == ("kiosk-intake keys: interrupted (Ctrl-C); run keys init again to add what "
                   "is missing\n"), err


# -- a --data that is not an intake's: refused as register refuses it ------------------------
def _no_intake_line(directory: Path) -> str:
    return (f"kiosk-intake: {directory} is not an intake's data directory "
            f"({directory / 'keys' / 'central.key'} is missing); give --data the directory "
            "`kiosk-intake serve` uses\n")


@pytest.mark.parametrize("argv", [
    ["stats"], ["stats", "--json"], ["revoke", "--kiosk", "poso-01"],
    ["serve", "--port", "0"], ["register", "--kiosk", "poso-01", "--key", KEY_A],
])
def test_a_directory_that_is_no_intakes_is_refused_by_every_command_that_reads_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """`stats --data /srv` (the parent directory, a typo) counted zeros, exit 0: read as
    "nothing received"; `revoke` said "no registration"; `serve` suggested keys init."""
    elsewhere = tmp_path / "srv"
    (elsewhere / "devices").mkdir(parents=True)  # even one that looks half like an intake
    status, out, err = run(capsys, argv[0], "--data", str(elsewhere), *argv[1:])
    assert (status, out, err) == (2, "", _no_intake_line(elsewhere))
    assert sorted(p.name for p in elsewhere.iterdir()) == ["devices"]  # nothing made there


def test_stats_of_an_intake_whose_keys_it_may_not_read_still_counts(
        data: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """keys/ is the intake user's (0700); stats read no key, so a monitoring account still
    gets its counts."""
    real = Path.is_file

    def unreadable(self: Path) -> bool:
        if self.name == "central.key":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "is_file", unreadable)
    status, out, err = run(capsys, "stats", "--data", str(data), "--json")
    assert status == 0 and json.loads(out)["received"] == 0, err
    status, _out, err = run(capsys, "revoke", "--data", str(data), "--kiosk", "poso-01")
    assert status == 1 and "as the user" in err and "kiosk-intake revoke" in err, err
