"""The kiosk and the intake agree on what a kiosk id and a record id are.

One table of ids goes to every place that checks one: on the kiosk the config check, the
journal and the sealer; at the intake ``kiosk-intake register``, the registrations it loads
and the record-id check that guards its file names. Each must accept exactly the ids the
table marks valid (the rule: :mod:`kiosk.core.ids`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from intake.cli import main as intake_main
from intake.devices import registration
from intake.store import valid_record_id
from kiosk.config import load_config
from kiosk.core.ids import (
    RECORD_ID,
    RECORD_SEQ_DIGITS,
    is_kiosk_id,
    is_record_id,
    make_record_id,
    new_record_id,
)
from kiosk.errors import ConfigError, SealingError
from kiosk.journal import Journal
from kiosk.sealing import DeviceKey, RecordMeta, Sealer, generate_central_keypair
from tests.conftest import write_config

# kiosk id -> valid?
KIOSK_IDS: dict[str, bool] = {
    "poso-01": True,
    "a": True,
    "0": True,
    "9poso": True,
    "poso-": True,             # a trailing '-' is allowed, a leading one is not
    "poso--01": True,
    "a" * 32: True,            # the longest
    "": False,
    "a" * 33: False,           # one too long
    "a" * 40: False,           # the journal's old limit
    "-poso": False,
    "Poso-01": False,          # capitals
    "POSO": False,
    "poso_01": False,          # '_'
    "poso.01": False,          # '.'
    ".": False,
    "..": False,
    "poso/01": False,
    "poso 01": False,
    "poso-01\n": False,        # a trailing newline ('$' would let it through)
    "\nposo-01": False,
    "poso-01\x00": False,
    "poso-\u0661\u0662": False,  # Arabic-Indic digits: \d would take them
    "poso-\uff11": False,      # a fullwidth digit
    "pos\u00f6": False,        # a letter outside ASCII
    "\u0130": False,           # capital dotted I: lowercases to two characters
}

# (kiosk id, record id, the record's seq) -> valid?
RECORD_IDS: dict[tuple[str, str, int], bool] = {
    ("poso-01", "poso-01-0000001-a1b2c3", 1): True,
    ("poso-01", "poso-01-1234567-000000", 1234567): True,
    ("poso-01", "poso-01-12345678-abcdef", 12345678): True,       # past 7 digits
    ("poso-01", "poso-01-999999999999-abcdef", 999999999999): True,  # 12 digits
    ("a", "a-0000042-ffffff", 42): True,
    ("poso-01", "poso-01-000001-a1b2c3", 1): False,               # 6 digits
    ("poso-01", "poso-01-1000000000000-a1b2c3", 10**12): False,   # 13 digits
    ("poso-01", "poso-01-0000001-A1B2C3", 1): False,              # capital hex
    ("poso-01", "poso-01-0000001-a1b2c", 1): False,               # 5 hex
    ("poso-01", "poso-01-0000001-a1b2c3d", 1): False,             # 7 hex
    ("poso-01", "poso-01-0000001-a1b2g3", 1): False,              # not hex
    ("poso-01", "poso-01-0000001-a1b2c3\n", 1): False,            # trailing newline
    ("poso-01", "poso-01-0000001", 1): False,                     # no tail
    ("poso-01", "poso-02-0000001-a1b2c3", 1): False,              # another kiosk's
    ("poso-01", " poso-01-0000001-a1b2c3", 1): False,
    ("poso-01", "poso-01-000000\u0661-a1b2c3", 1): False,         # an Arabic-Indic digit
    ("poso-01", "poso-01--000001-a1b2c3", -1): False,             # a negative seq
    ("poso-01", "poso-01-0000001-a1b2c3/..", 1): False,
    ("Poso-01", "Poso-01-0000001-a1b2c3", 1): False,              # the kiosk id is bad
    ("poso_01", "poso_01-0000001-a1b2c3", 1): False,
    ("poso-01\n", "poso-01\n-0000001-a1b2c3", 1): False,
    ("..", "..-0000001-a1b2c3", 1): False,
}
DEVICE_KEY_HEX = "ab" * 32


def config_accepts(tmp_path: Path, kiosk_id: str) -> bool:
    tmp_path.mkdir(exist_ok=True)
    path = write_config(tmp_path, f"[kiosk]\nid = {json.dumps(kiosk_id)}\n")
    try:
        load_config(path, system_path=tmp_path / "absent.toml")
    except ConfigError as exc:
        assert "kiosk.id" in str(exc)
        return False
    return True


def journal_accepts(tmp_path: Path, kiosk_id: str) -> bool:
    try:
        journal = Journal.open(tmp_path / "journal.db", kiosk_id=kiosk_id, boot_id="b",
                               clock_trusted=lambda: True)
    except ValueError:
        return False
    journal.close()
    return True


def _intake_data(tmp_path: Path) -> Path:
    """An intake's data directory as `register` knows one: its central key there (the
    bytes are not read by `register`)."""
    data = tmp_path / "intake"
    (data / "keys").mkdir(parents=True)
    (data / "keys" / "central.key").write_text("stand-in\n")
    return data


def intake_registers(tmp_path: Path, kiosk_id: str,
                     capsys: pytest.CaptureFixture[str]) -> bool:
    data = _intake_data(tmp_path)
    status = intake_main(["register", "--data", str(data), f"--kiosk={kiosk_id}",
                          "--key", DEVICE_KEY_HEX])
    capsys.readouterr()
    assert status in (0, 2), status
    if status == 0:  # and the registration it wrote loads back, under that id
        device = registration(data, kiosk_id)
        assert device is not None and device.kiosk_id == kiosk_id
    return status == 0


@pytest.mark.parametrize("kiosk_id", list(KIOSK_IDS), ids=ascii)
def test_kiosk_and_intake_agree_on_every_kiosk_id(tmp_path: Path, kiosk_id: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    verdicts = {
        "rule": is_kiosk_id(kiosk_id),
        "config check": config_accepts(tmp_path / "config", kiosk_id),
        "journal": journal_accepts(tmp_path, kiosk_id),
        "intake register": intake_registers(tmp_path, kiosk_id, capsys),
        "intake record-id check": valid_record_id(kiosk_id, make_record_id(kiosk_id, 1,
                                                                           "a1b2c3")),
    }
    assert verdicts == dict.fromkeys(verdicts, KIOSK_IDS[kiosk_id])


@pytest.fixture(scope="module")
def central_public(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from kiosk.sealing import load_central_public_key

    _private, public = generate_central_keypair(tmp_path_factory.mktemp("central"))
    return load_central_public_key(public)


def sealer_accepts(central_public: bytes, device: DeviceKey, kiosk_id: str, record_id: str,
                   seq: int) -> bool:
    meta = RecordMeta(record_id=record_id, kiosk_id=kiosk_id, seq=seq, boot_id="b",
                      clock_trusted=True, created_at="2024-03-01T02:00:00Z",
                      sealed_at="2024-03-01T02:07:00Z", assisted=False)
    try:
        Sealer(central_public, device, kiosk_id).seal_record(meta, {"consent": b"{}"})
    except SealingError as exc:
        assert "does not match" in str(exc)
        return False
    return True


@pytest.mark.parametrize(("kiosk_id", "record_id", "seq"), list(RECORD_IDS), ids=ascii)
def test_kiosk_and_intake_agree_on_every_record_id(tmp_path: Path, central_public: bytes,
                                                   kiosk_id: str, record_id: str,
                                                   seq: int) -> None:
    device = DeviceKey.load_or_create(tmp_path / "device.key")
    verdicts = {
        "rule": is_record_id(record_id, kiosk_id),
        "sealer": sealer_accepts(central_public, device, kiosk_id, record_id, seq),
        "intake": valid_record_id(kiosk_id, record_id),
    }
    assert verdicts == dict.fromkeys(verdicts, RECORD_IDS[(kiosk_id, record_id, seq)])


@pytest.mark.parametrize("record_id", sorted({rid for _, rid, _ in RECORD_IDS}), ids=ascii)
def test_the_record_id_pattern_takes_exactly_the_record_ids_of_some_kiosk(record_id: str
                                                                          ) -> None:
    """RECORD_ID, for an id whose kiosk is not known, takes one exactly when some prefix of
    it is a kiosk id it is valid for."""
    some_kiosk = any(is_record_id(record_id, record_id[:end]) for end in range(len(record_id)))
    assert (RECORD_ID.fullmatch(record_id) is not None) is some_kiosk


def test_the_record_ids_the_journal_makes_are_the_intakes(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "journal.db", kiosk_id="poso-01", boot_id="b",
                      clock_trusted=lambda: True) as journal:
        made = [journal.create_record(assisted=False) for _ in range(3)]
    for record in made:
        assert valid_record_id("poso-01", record.id), record.id
        assert record.id.startswith(f"poso-01-{record.seq:0{RECORD_SEQ_DIGITS}d}-")


@pytest.mark.parametrize("seq", [0, 1, 10**7 - 1, 10**7, 10**12 - 1])
def test_a_new_record_id_is_valid_up_to_twelve_digits(seq: int) -> None:
    assert is_record_id(new_record_id("poso-01", seq), "poso-01")
    assert not is_record_id(new_record_id("poso-01", 10**12), "poso-01")


# a public key's text (what `kiosk keys show` prints) -> valid in an intake's device file?
PUBLIC_KEYS: dict[str, bool] = {
    "ab" * 32: True,
    "0123456789abcdef" * 4: True,
    "AB" * 32: False,          # capitals: `register` lowers what it is given, a file must not
    "ab" * 31: False,          # 31 bytes
    "ab" * 33: False,
    "ab" * 32 + "\n": False,
    "gh" * 32: False,
    "": False,
}


@pytest.mark.parametrize("text", list(PUBLIC_KEYS), ids=ascii)
def test_intake_register_and_its_device_files_agree_on_a_public_key(
        tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> None:
    from kiosk.core.ids import PUBLIC_KEY_HEX

    data = _intake_data(tmp_path)
    (data / "devices").mkdir(parents=True)
    (data / "devices" / "poso-02.json").write_text(
        json.dumps({"kiosk_id": "poso-02", "public_key": text}))
    status = intake_main(["register", "--data", str(data), "--kiosk=poso-01", "--key", text])
    capsys.readouterr()
    loaded = registration(data, "poso-02")
    assert (PUBLIC_KEY_HEX.fullmatch(text) is not None, loaded is not None) == (
        PUBLIC_KEYS[text], PUBLIC_KEYS[text])
    # `register` takes the key as typed, folded to lower case, its spaces trimmed
    assert (status == 0) == (PUBLIC_KEYS.get(text.strip().lower(), False)), status


def test_every_key_the_kiosk_and_the_intake_make_has_a_key_id_of_the_one_shape(
        tmp_path: Path) -> None:
    from kiosk.core.ids import KEY_ID
    from kiosk.receipts import ensure_intake_keypair

    device = DeviceKey.load_or_create(tmp_path / "device.key")
    intake, _ = ensure_intake_keypair(tmp_path / "intake")
    for made in (device.key_id, intake.key_id):
        assert KEY_ID.fullmatch(made), made
        assert not KEY_ID.fullmatch(made.upper()) and not KEY_ID.fullmatch(made + "0")
    assert device.key_id != intake.key_id


def test_register_in_a_directory_that_is_no_intakes_is_refused_and_makes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A mistyped ``--data``: ``registered kiosk ...`` and exit 0, a new directory made, and
    the real intake knew nothing of the kiosk."""
    typo = tmp_path / "intkae"
    status = intake_main(["register", "--data", str(typo), "--kiosk=poso-01", "--key",
                          DEVICE_KEY_HEX])
    err = capsys.readouterr().err
    assert status == 2 and "is not an intake's data directory" in err
    assert "kiosk-intake serve" in err and "keys init" not in err
    assert not typo.exists()


def test_register_where_the_keys_cannot_be_read_says_whose_they_are(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """keys/ is the intake user's (0700): a maintainer's own account got a traceback."""
    data = _intake_data(tmp_path)
    real = Path.is_file

    def unreadable(self: Path) -> bool:
        if self.name == "central.key":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "is_file", unreadable)
    status = intake_main(["register", "--data", str(data), "--kiosk=poso-01", "--key",
                          DEVICE_KEY_HEX])
    err = capsys.readouterr().err
    assert status == 1 and "cannot read" in err and "as the user" in err, err
    assert not (data / "devices").exists()
