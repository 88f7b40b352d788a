"""The staff card proves itself (PKI-AUTH, SP 800-116): ``staff_login`` against the simulated
reader with good and faulty cards, the trusted CAs (:class:`StaffTrust`) and their CRLs, and
what the log keeps. The same good-card login through pcscd and the virtual card, and the
faulty cards there: ``tests/contract/test_card.py``."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kiosk.hardware.card import devca, piv
from kiosk.hardware.card.base import CardInfo, CardReader
from kiosk.hardware.card.errors import (
    CardNotTrusted,
    CardRemoved,
    CardRevoked,
    NotAStaffCard,
    StaffLoginFailed,
    StaffLoginNotSetUp,
    WrongPin,
)
from kiosk.hardware.card.pivcard import PivCard
from kiosk.hardware.card.sim import SimCardReader
from kiosk.hardware.card.staff import staff_login
from kiosk.hardware.card.trust import (
    MAX_CA_FILE,
    MAX_CRL_FILE,
    CertificateRevoked,
    StaffTrust,
    UntrustedCertificate,
    serial_hex,
)

PIN = "246810"
STAFF = "STAFF-0042"
NOW = datetime.now(UTC)
DEV = StaffTrust.development()


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def reader_with(card: PivCard) -> SimCardReader:
    reader = SimCardReader(pin=PIN, staff_id=STAFF)
    reader.card = card
    reader.open()
    return reader


def login(card: PivCard, *, trust: StaffTrust | None = DEV,
          now: datetime | None = NOW) -> str:
    with reader_with(card) as reader:
        return staff_login(reader, PIN, trust=trust, now=now).staff_id


def card(**kwargs: object) -> PivCard:
    return PivCard(pin=PIN, staff_id=STAFF, **kwargs)  # type: ignore[arg-type]


# -- a good card, and the faulty ones -------------------------------------------------------
def test_a_good_card_logs_in_with_a_trusted_clock_and_without():
    assert login(card()) == STAFF
    assert login(card(), now=None) == STAFF


def test_without_trust_the_simulated_readers_card_is_checked_against_the_development_ca():
    with SimCardReader(pin=PIN, staff_id=STAFF) as reader:
        assert staff_login(reader, PIN).staff_id == STAFF


@pytest.mark.parametrize(("fault", "detail"), [
    ("other_ca", "not issued by a trusted staff-card CA"),
    ("signs_with_another_key", "signature of the challenge does not verify"),
    ("cn_mismatch", "the certificate names 'STAFF-9999', the CHUID 'STAFF-0042'"),
    ("expired", "the card's certificate expired on 2021-01-01"),
    ("no_cert", "no PIV Authentication certificate: GET DATA 5F C1 05 answered 6A 82"),
])
def test_a_card_that_cannot_prove_itself_is_refused(fault, detail):
    with pytest.raises(CardNotTrusted) as refused:
        login(card(auth_fault=fault))
    assert detail in refused.value.detail
    assert isinstance(refused.value, StaffLoginFailed)  # the flow's refusals: an InvalidInput
    assert refused.value.message("en") == "This card could not be checked. Ask an administrator."
    assert refused.value.message("id") == "Kartu ini tidak dapat diperiksa. Hubungi admin."
    assert detail not in refused.value.message("en")  # the screen names no cause


def test_an_expired_certificate_passes_while_the_clock_is_not_trusted():
    assert login(card(auth_fault="expired"), now=None) == STAFF


def test_a_certificate_not_yet_valid_is_refused_with_a_trusted_clock():
    key = devca.dev_card_key(STAFF)
    cert = devca.issue_card_certificate(devca.dev_ca_key(), devca.dev_ca_certificate(),
                                        key.public_key(), STAFF,
                                        not_before=NOW + timedelta(days=1),
                                        not_after=NOW + timedelta(days=400))
    with pytest.raises(CardNotTrusted) as refused:
        login(card(auth_cert=cert))
    assert "is not valid before" in refused.value.detail
    assert login(card(auth_cert=cert), now=None) == STAFF


def test_an_expired_ca_is_refused_with_a_trusted_clock():
    ca_key = devca.derived_key(b"an office CA that expired")
    ca = devca.make_ca_certificate(ca_key, "Old office CA",
                                   not_before=datetime(2019, 1, 1, tzinfo=UTC),
                                   not_after=datetime(2022, 1, 1, tzinfo=UTC))
    key = devca.dev_card_key(STAFF)
    cert = devca.issue_card_certificate(ca_key, ca, key.public_key(), STAFF)
    trust = StaffTrust([ca])
    with pytest.raises(CardNotTrusted) as refused:
        login(card(auth_cert=cert), trust=trust)
    assert "its CA's certificate expired on 2022-01-01" in refused.value.detail
    assert login(card(auth_cert=cert), trust=trust, now=None) == STAFF


def test_a_card_of_the_office_ca_passes_and_the_development_card_does_not():
    office_key = devca.derived_key(b"test office CA")
    office = devca.make_ca_certificate(office_key, "Disdukcapil Poso staff CA")
    trust = StaffTrust.from_pem(pem(devca.make_ca_certificate(
        devca.derived_key(b"another office"), "Another office"), office))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = devca.issue_card_certificate(office_key, office, key.public_key(), STAFF)
    assert login(card(auth_key=key, auth_cert=cert), trust=trust) == STAFF
    with pytest.raises(CardNotTrusted) as refused:
        login(card(), trust=trust)  # a development card, at a kiosk that trusts the office
    assert "development staff CA" in refused.value.detail


def test_a_certificate_for_another_curve_or_that_is_a_ca_is_refused():
    p384 = ec.generate_private_key(ec.SECP384R1())
    cert = devca.issue_card_certificate(devca.dev_ca_key(), devca.dev_ca_certificate(),
                                        p384.public_key(), STAFF)
    with pytest.raises(CardNotTrusted) as refused:
        login(card(auth_cert=cert))
    assert "not an ECC P-256 key" in refused.value.detail
    sub_ca_key = devca.dev_card_key(STAFF)
    sub_ca = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, STAFF)]))
              .issuer_name(devca.dev_ca_certificate().subject)
              .public_key(sub_ca_key.public_key()).serial_number(7)
              .not_valid_before(devca.NOT_BEFORE).not_valid_after(devca.NOT_AFTER)
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .sign(devca.dev_ca_key(), devca.hashes.SHA256()))
    with pytest.raises(CardNotTrusted) as refused:
        login(card(auth_cert=sub_ca))
    assert "is a CA certificate" in refused.value.detail


def test_wrong_pin_and_no_piv_keep_their_own_errors():
    with pytest.raises(WrongPin), reader_with(card()) as reader:
        staff_login(reader, "000000", trust=DEV)
    with pytest.raises(NotAStaffCard):
        login(card(piv_app=False))


def test_a_card_pulled_during_the_signature_is_card_removed_not_untrusted():
    with reader_with(card()) as reader:
        reader.remove_on_ins = 0x87
        with pytest.raises(CardRemoved):
            staff_login(reader, PIN, trust=DEV)


# -- a reader whose card answers from a script ----------------------------------------------
class Scripted(CardReader):
    """The simulated card, except that the answer to one INS comes from ``override``."""

    def __init__(self, override: dict[bytes, object] | None = None) -> None:
        super().__init__()
        self.card = card()
        self.override = override or {}
        self.sent: list[bytes] = []

    @property
    def is_card_present(self) -> bool:
        return True

    def card_info(self) -> CardInfo:
        return CardInfo(atr=self.card.atr)

    def transmit(self, apdu: bytes) -> tuple[bytes, int, int]:
        self.sent.append(bytes(apdu))
        answer = self.override.get(bytes(apdu[:2]))
        if callable(answer):
            return answer(apdu)
        response = self.card.answer(apdu)
        return response[:-2], response[-2], response[-1]


def test_any_other_reader_without_trust_is_refused_before_any_apdu():
    with Scripted() as reader:
        with pytest.raises(StaffLoginNotSetUp) as refused:
            staff_login(reader, PIN)
        assert reader.sent == []
    assert refused.value.message("en").startswith("Officer login is not set up on this kiosk: ")
    assert refused.value.message("id").startswith("Login petugas belum disiapkan di kiosk ini")


def test_a_card_whose_certificate_never_ends_is_refused_within_bounds():
    def endless(apdu: bytes) -> tuple[bytes, int, int]:
        return b"\x00" * 256, 0x61, 0x00

    reader = Scripted({b"\x00\xc0": endless})
    with reader, pytest.raises(CardNotTrusted) as refused:
        staff_login(reader, PIN, trust=DEV)
    assert "runs past 4096 bytes" in refused.value.detail
    assert len(reader.sent) < 30


def test_a_replayed_signature_does_not_verify():
    """A card that answers GENERAL AUTHENTICATE with a signature it saw before (a recorded
    session) is refused: every login signs a fresh random challenge."""
    recorded: list[bytes] = []

    def record(apdu: bytes) -> tuple[bytes, int, int]:
        response = reader.card.answer(apdu)
        recorded.append(response[:-2])
        return response[:-2], response[-2], response[-1]

    reader = Scripted({b"\x00\x87": record})
    with reader:
        staff_login(reader, PIN, trust=DEV)
        reader.override = {b"\x00\x87": lambda _apdu: (recorded[0], 0x90, 0x00)}
        with pytest.raises(CardNotTrusted):
            staff_login(reader, PIN, trust=DEV)
        challenges = [a[9:41] for a in reader.sent if a[:2] == b"\x00\x87"]
        assert len(challenges) == 2 and challenges[0] != challenges[1]


def test_the_log_holds_neither_the_pin_nor_the_challenge(caplog):
    caplog.set_level(logging.DEBUG)
    for fault in (None, "signs_with_another_key"):
        reader = Scripted()
        reader.card = card(auth_fault=fault)
        with reader:
            try:
                staff_login(reader, PIN, trust=DEV)
            except CardNotTrusted:
                assert fault == "signs_with_another_key"
        challenge = next(a[9:41] for a in reader.sent if a[:2] == b"\x00\x87")
        for secret in (PIN, challenge.hex(), challenge.hex(" "), repr(challenge)[2:-1]):
            assert secret.lower() not in caplog.text.lower()
    assert "development" in caplog.text  # which CA, said
    assert "STAFF-0042" in caplog.text and "not trusted" in caplog.text


# -- StaffTrust -------------------------------------------------------------------------------
def test_trust_from_pem_takes_several_cas_and_describes_them():
    other = devca.make_ca_certificate(devca.derived_key(b"second"), "Second CA")
    trust = StaffTrust.from_pem(pem(devca.dev_ca_certificate(), other), source="ca.pem")
    assert len(trust.cas) == 2 and trust.source == "ca.pem" and not trust.development
    assert trust.describe().startswith("2 staff-card CAs: CN=e-KTP kiosk development")
    assert "CN=Second CA (until 2049-12-31)" in trust.describe()
    assert trust.expired(NOW) == []
    assert trust.expired(datetime(2051, 1, 1, tzinfo=UTC)) == list(trust.cas)


@pytest.mark.parametrize(("data", "problem"), [
    (b"", "no PEM certificate"),
    (b"garbage", "no PEM certificate"),
    (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "does not parse"),
    (pem(devca.dev_card_certificate(STAFF)), "is not a CA certificate"),
])
def test_trust_from_pem_refuses_what_is_no_ca(data, problem):
    with pytest.raises(ValueError, match=problem):
        StaffTrust.from_pem(data)


def test_trust_from_file(tmp_path):
    path = tmp_path / "ca.pem"
    path.write_bytes(pem(devca.dev_ca_certificate()))
    assert StaffTrust.from_file(path).source == str(path)
    with pytest.raises(OSError):
        StaffTrust.from_file(tmp_path / "missing.pem")
    path.write_bytes(b"x" * (MAX_CA_FILE + 1))
    with pytest.raises(ValueError, match="larger than"):
        StaffTrust.from_file(path)


def test_trust_verify_returns_the_issuing_ca_and_says_why_not():
    assert DEV.verify(devca.dev_card_certificate(STAFF), now=NOW) == devca.dev_ca_certificate()
    with pytest.raises(UntrustedCertificate, match="not issued"):
        StaffTrust([devca.make_ca_certificate(devca.derived_key(b"x"), "X")]).verify(
            devca.dev_card_certificate(STAFF), now=None)
    with pytest.raises(ValueError):
        StaffTrust([])


def test_the_dev_certificate_object_needs_get_response():
    """The 9A object is longer than one short answer: the chaining is exercised."""
    der = devca.dev_card_certificate(STAFF).public_bytes(serialization.Encoding.DER)
    assert len(piv.build_cert_object(der)) > piv.SHORT_LE


# -- revocation: the office's CRL ------------------------------------------------------------
def crl_pem(*crls: x509.CertificateRevocationList) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in crls)


def dev_crl(*staff_ids: str, **kwargs: object) -> x509.CertificateRevocationList:
    """A CRL of the development CA revoking the development cards of ``staff_ids``."""
    kwargs.setdefault("last_update", NOW - timedelta(days=1))
    return devca.issue_crl(devca.dev_ca_key(), devca.dev_ca_certificate(),
                           [devca.dev_card_certificate(s).serial_number for s in staff_ids],
                           **kwargs)  # type: ignore[arg-type]


def revoking(*staff_ids: str, **kwargs: object) -> StaffTrust:
    return DEV.with_crls(crl_pem(dev_crl(*staff_ids, **kwargs)), source="staff-crl.pem")


@pytest.mark.parametrize("now", [NOW, None], ids=["trusted clock", "untrusted clock"])
def test_a_revoked_card_is_refused_whatever_the_clock(now):
    """The emulated card proves itself in every other way (PIN, certificate of the trusted
    CA, challenge signed): its serial on the CRL refuses it, as its own kind of refusal."""
    trust = revoking(STAFF, "STAFF-0007")
    serial = devca.dev_card_certificate(STAFF).serial_number
    with pytest.raises(CardRevoked) as refused:
        login(card(), trust=trust, now=now)
    assert isinstance(refused.value, CardNotTrusted)  # the flow's "could not be checked"
    assert refused.value.serial == serial
    assert refused.value.detail == (
        f"certificate serial {serial_hex(serial)} revoked on "
        f"{(NOW - timedelta(days=1)):%Y-%m-%d %H:%M:%S} UTC (keyCompromise)")
    assert refused.value.message("en") == "This card could not be checked. Ask an administrator."
    # another officer's card of the same CA, not on the CRL, logs in
    other = PivCard(pin=PIN, staff_id="STAFF-0043")
    with SimCardReader(pin=PIN, staff_id="STAFF-0043") as reader:
        reader.card = other
        assert staff_login(reader, PIN, trust=trust, now=now).staff_id == "STAFF-0043"
    assert login(card(), trust=DEV, now=now) == STAFF  # the same card, without the CRL


def test_a_crl_past_its_next_update_still_revokes():
    """A kiosk offline for weeks: its CRL is out of date, and what it lists stays refused."""
    trust = revoking(STAFF, last_update=NOW - timedelta(days=60),
                     next_update=NOW - timedelta(days=30))
    assert trust.out_of_date(NOW) == list(trust.crls)
    with pytest.raises(CardRevoked):
        login(card(), trust=trust)
    assert revoking(STAFF).out_of_date(NOW) == []


def test_the_reason_and_the_logged_line_name_the_card_never_the_pin(caplog):
    caplog.set_level(logging.DEBUG)
    trust = revoking(STAFF, reason=None)
    with pytest.raises(CardRevoked) as refused:
        login(card(), trust=trust)
    assert refused.value.detail.endswith("(no reason given)")
    serial = serial_hex(devca.dev_card_certificate(STAFF).serial_number)
    line = next(r.getMessage() for r in caplog.records if "revoked" in r.getMessage())
    assert "'STAFF-0042' is revoked" in line and serial in line
    assert PIN not in caplog.text


def test_a_revoked_certificate_on_a_card_without_its_key_is_not_trusted_not_revoked():
    """``CardRevoked`` says the revoked card itself was used (it signed the challenge): a
    card that only copies the revoked certificate fails as any impostor does."""
    with pytest.raises(CardNotTrusted) as refused:
        login(card(auth_fault="signs_with_another_key"), trust=revoking(STAFF))
    assert type(refused.value) is CardNotTrusted
    assert "signature of the challenge does not verify" in refused.value.detail


def test_verify_says_revoked_only_for_the_ca_whose_crl_lists_it():
    office_key = devca.derived_key(b"test office CA")
    office = devca.make_ca_certificate(office_key, "Disdukcapil Poso staff CA")
    cert = devca.dev_card_certificate(STAFF)
    office_crl = devca.issue_crl(office_key, office, [cert.serial_number],
                                 last_update=NOW)  # the same serial, another CA's
    trust = StaffTrust([devca.dev_ca_certificate(), office]).with_crls(
        crl_pem(office_crl, dev_crl("STAFF-0001")))
    assert trust.verify(cert, now=NOW) == devca.dev_ca_certificate()
    with pytest.raises(CertificateRevoked) as refused:
        trust.verify(devca.dev_card_certificate("STAFF-0001"), now=None)
    assert isinstance(refused.value, UntrustedCertificate)
    assert "revoked on" in str(refused.value) and refused.value.reason == "keyCompromise"
    assert trust.describe_crls() == (
        f"CRL of CN=Disdukcapil Poso staff CA: 1 revoked, issued {NOW:%Y-%m-%d}, next update "
        f"{NOW + timedelta(days=30):%Y-%m-%d}; CRL of CN={devca.CA_NAME}: 1 revoked, issued "
        f"{NOW - timedelta(days=1):%Y-%m-%d}, next update "
        f"{NOW + timedelta(days=29):%Y-%m-%d}")


def test_a_crl_file_may_be_der():
    der = dev_crl(STAFF).public_bytes(serialization.Encoding.DER)
    with pytest.raises(CardRevoked):
        login(card(), trust=DEV.with_crls(der))


def test_a_crl_signed_by_another_ca_makes_the_file_unusable():
    rogue_key = devca.derived_key(b"a rogue CA that copies the development CA's name")
    rogue = devca.make_ca_certificate(rogue_key, devca.CA_NAME)  # the same name, another key
    stranger_key = devca.derived_key(b"a CA this kiosk does not trust")
    stranger = devca.make_ca_certificate(stranger_key, "Another office")
    good = dev_crl("STAFF-0001")
    for signer, ca, problem in [
        (rogue_key, rogue, "its signature does not verify with that CA's key"),
        (stranger_key, stranger, "its issuer says 'CN=Another office'"),
    ]:
        bad = devca.issue_crl(signer, ca, [1], last_update=NOW)
        with pytest.raises(ValueError, match="signed by no trusted staff-card CA") as unusable:
            DEV.with_crls(crl_pem(good, bad))  # one bad CRL spoils the file
        assert problem in str(unusable.value)


def test_a_delta_crl_is_refused():
    delta = (x509.CertificateRevocationListBuilder()
             .issuer_name(devca.dev_ca_certificate().subject)
             .last_update(NOW).next_update(NOW + timedelta(days=1))
             .add_extension(x509.DeltaCRLIndicator(1), critical=True)
             .sign(devca.dev_ca_key(), devca.hashes.SHA256()))
    with pytest.raises(ValueError, match="is a delta CRL"):
        DEV.with_crls(crl_pem(delta))


@pytest.mark.parametrize(("data", "problem"), [
    (b"", "empty"),
    (b"garbage", "the CRL in it does not parse"),
    (pem(devca.dev_ca_certificate()), "no PEM CRL"),
    (b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", "does not parse"),
])
def test_a_crl_file_that_holds_no_crl_is_refused(data, problem):
    with pytest.raises(ValueError, match=problem):
        DEV.with_crls(data)


def test_crl_from_file(tmp_path):
    path = tmp_path / "staff-crl.pem"
    path.write_bytes(crl_pem(dev_crl(STAFF)))
    trust = DEV.with_crl_file(path)
    assert trust.crl_source == str(path) and len(trust.crls) == 1
    assert trust.cas == DEV.cas and trust.development  # the CAs are the same
    assert DEV.crls == () and DEV.describe_crls() == "no CRL: no card is refused as revoked"
    with pytest.raises(OSError):
        DEV.with_crl_file(tmp_path / "missing.pem")
    path.write_bytes(b"x" * (MAX_CRL_FILE + 1))
    with pytest.raises(ValueError, match="larger than"):
        DEV.with_crl_file(path)
