"""docs/staff-cards.md's OpenSSL steps, run as the document writes them: the office's CA and
its ``openssl ca`` set-up, two officers' certificates (from CSRs OpenSSL makes in place of
the card's ``yubico-piv-tool``), one revoked with ``openssl ca -revoke`` and the CRL issued
with ``openssl ca -gencrl``. The kiosk's trust, given that CA and that CRL, refuses the
revoked card and lets the other in, through the emulated PIV card."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kiosk.hardware.card.errors import CardRevoked
from kiosk.hardware.card.pivcard import PivCard
from kiosk.hardware.card.sim import SimCardReader
from kiosk.hardware.card.staff import staff_login
from kiosk.hardware.card.trust import CertificateRevoked, StaffTrust, serial_hex

DOC = Path(__file__).resolve().parents[2] / "docs" / "staff-cards.md"
PIN = "246810"
# What stands in for the card: its key made by OpenSSL, and the CSR the card would sign.
CARD_STAND_IN = ('openssl ecparam -name prime256v1 -genkey -noout -out 9a.key\n'
                 'openssl req -new -key 9a.key -subj "/CN=STAFF-0042" -out 9a.csr\n')

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None,
    reason="the openssl command is not installed (Debian package openssl): it is what the "
           "office runs, and what this test checks docs/staff-cards.md against")


def sh_blocks(heading: str) -> list[str]:
    """The ```sh blocks of the section of docs/staff-cards.md whose heading starts so."""
    text = DOC.read_text(encoding="utf-8")
    section = re.search(rf"^## {re.escape(heading)}.*?$(.*?)(?=^## |\Z)", text,
                        re.MULTILINE | re.DOTALL)
    assert section, f"docs/staff-cards.md has no section '## {heading}...'"
    blocks = re.findall(r"^```sh\n(.*?)^```$", section.group(1), re.MULTILINE | re.DOTALL)
    assert blocks, f"no ```sh block under '## {heading}'"
    return blocks


def without(block: str, *programs: str) -> str:
    """``block`` without the commands (backslash-continued lines and all) of ``programs``:
    the card's own tools, which need a card."""
    commands = re.split(r"(?<!\\)\n", block)
    return "\n".join(c for c in commands if c.split(" ", 1)[0] not in programs) + "\n"


def run(script: str, where: Path) -> str:
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=where,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def login(key: Path, cert: Path, staff_id: str, trust: StaffTrust) -> str:
    card_key = serialization.load_pem_private_key(key.read_bytes(), password=None)
    assert isinstance(card_key, ec.EllipticCurvePrivateKey)
    card = PivCard(pin=PIN, staff_id=staff_id, auth_key=card_key,
                   auth_cert=x509.load_pem_x509_certificate(cert.read_bytes()))
    with SimCardReader(pin=PIN, staff_id=staff_id) as reader:
        reader.card = card
        return staff_login(reader, PIN, trust=trust, now=datetime.now(UTC)).staff_id


def test_the_documented_openssl_steps_revoke_one_card_and_not_another(tmp_path: Path) -> None:
    ca_blocks = sh_blocks("Once: the office's staff-card CA")
    assert len(ca_blocks) == 2  # the CA; the `openssl ca` set-up and the first CRL
    for block in ca_blocks:
        run(block, tmp_path)
    first = StaffTrust.from_file(tmp_path / "staff-ca.pem").with_crl_file(
        tmp_path / "staff-crl.pem")
    assert [len(entry.crl) for entry in first.crls] == [0]  # none revoked yet

    (card_block,) = sh_blocks("For each officer: the card")
    card_steps = CARD_STAND_IN + without(card_block, "yubico-piv-tool", "kiosk")
    assert "openssl x509 -req -in 9a.csr" in card_steps and "cp 9a.pem" in card_steps
    cards = {}
    for staff_id in ("STAFF-0042", "STAFF-0043"):
        run(card_steps.replace("STAFF-0042", staff_id), tmp_path)
        (issued,) = (tmp_path / "issued").glob(f"{staff_id}-*.pem")
        (tmp_path / "9a.key").rename(tmp_path / f"{staff_id}.key")
        cards[staff_id] = issued
    revoked_file = cards["STAFF-0042"]
    serial = x509.load_pem_x509_certificate(revoked_file.read_bytes()).serial_number
    assert revoked_file.name == f"STAFF-0042-{serial_hex(serial)}.pem"  # as the doc says

    (revoke_block,) = sh_blocks("A lost or stolen card")
    assert "<serial>" in revoke_block
    said = run(revoke_block.replace("<serial>", serial_hex(serial)), tmp_path)
    assert f"Serial Number: {serial_hex(serial)}" in said and "Key Compromise" in said
    index = (tmp_path / "staff-ca-db" / "index.txt").read_text()
    assert index.startswith("R\t") and f"\t{serial_hex(serial)}\t" in index

    trust = StaffTrust.from_file(tmp_path / "staff-ca.pem").with_crl_file(
        tmp_path / "staff-crl.pem")
    (crl,) = trust.crls
    assert len(crl.crl) == 1 and crl.crl.next_update_utc is not None
    assert 29 <= (crl.crl.next_update_utc - crl.crl.last_update_utc).days <= 30
    revoked_cert = x509.load_pem_x509_certificate(revoked_file.read_bytes())
    with pytest.raises(CertificateRevoked) as refused:
        trust.verify(revoked_cert, now=datetime.now(UTC))
    assert refused.value.reason == "keyCompromise" and refused.value.serial == serial
    other = x509.load_pem_x509_certificate(cards["STAFF-0043"].read_bytes())
    assert trust.verify(other, now=datetime.now(UTC)) == trust.cas[0]

    # the whole login, the emulated card holding each officer's key and certificate
    with pytest.raises(CardRevoked):
        login(tmp_path / "STAFF-0042.key", revoked_file, "STAFF-0042", trust)
    assert login(tmp_path / "STAFF-0043.key", cards["STAFF-0043"], "STAFF-0043",
                 trust) == "STAFF-0043"
    assert login(tmp_path / "STAFF-0042.key", revoked_file, "STAFF-0042",
                 first) == "STAFF-0042"  # the same card, before the new CRL
