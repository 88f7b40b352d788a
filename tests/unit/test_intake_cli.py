"""``kiosk-intake``'s own commands (intake/cli.py), run in process: registering and revoking
kiosks, what each refuses, and how each fails (a full or read-only disk, Ctrl-C, a --data that
is not an intake's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from intake.cli import main
from intake.devices import registration, trusted_keys

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
    status = main(list(argv))
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
    assert register(capsys, data, "poso-01", KEY_A, "--replace")[0] == 0
    assert registration(data, "poso-01") is not None


def test_register_help_names_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["register", "--help"])
    out = capsys.readouterr().out
    assert "--replace" in out and "--unrevoke" in out
