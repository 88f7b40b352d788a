"""What the uploader needs from ``[upload]`` (:class:`UploadSettings`), built only from the
config, whose declarations hold the defaults and ranges."""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.config import Config


@dataclass(frozen=True)
class UploadSettings:
    """What the uploader needs from ``[upload]``, with the intake key already loaded.

    Built only by :meth:`from_config`: the defaults and ranges are the config's
    (``kiosk.config.SCHEMA["upload"]``), never repeated here. Tests change a field with
    ``dataclasses.replace``."""

    url: str
    kiosk_id: str
    intake_key: bytes
    token: str
    interval_s: float
    retries: int
    max_backoff_s: float
    timeout_s: float
    chunk_size: int  # 0: the rest of the record in one PATCH
    retention_days: float
    stick_resend_days: float  # 0: a record on a USB stick is never sent over the link
    ca_file: str
    tls_fingerprint: str
    device_key: str  # the kiosk's device key file: every request is signed with it

    @classmethod
    def from_config(cls, config: Config, intake_key: bytes) -> UploadSettings:
        section = config["upload"]
        return cls(url=section["url"], kiosk_id=config.kiosk_id, intake_key=intake_key,
                   token=section["token"], interval_s=float(section["interval_s"]),
                   retries=int(section["retries"]),
                   max_backoff_s=float(section["max_backoff_s"]),
                   timeout_s=float(section["timeout_s"]), chunk_size=int(section["chunk_size"]),
                   retention_days=float(section["retention_days"]),
                   stick_resend_days=float(section["stick_resend_days"]),
                   ca_file=section["ca_file"], tls_fingerprint=section["tls_fingerprint"],
                   device_key=str(config.device_key_path))
