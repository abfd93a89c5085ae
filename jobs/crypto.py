"""Encryption at rest of the secrets jobs send (values of secret headers in JobStep.config).

The key is settings.HOURGLASS_ENCRYPTION_KEY (a Fernet key), or one derived from SECRET_KEY with
HKDF-SHA256. Encrypted values are stored as `enc:v1:<fernet token>`; decrypting leaves plain values
as they are, so rows written before encryption keep working.
"""

from __future__ import annotations

import base64
import functools
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from jobs.redact import is_secret_name

PREFIX = "enc:v1:"


@functools.cache
def _fernet(configured: str, secret_key: str) -> Fernet:
    if configured:
        return Fernet(configured.encode())
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"hourglass", info=b"hourglass-secrets-at-rest").derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def fernet() -> Fernet:
    return _fernet(getattr(settings, "HOURGLASS_ENCRYPTION_KEY", "") or "", settings.SECRET_KEY)


def encrypt_value(value: str) -> str:
    if not isinstance(value, str) or value.startswith(PREFIX):
        return value
    return PREFIX + fernet().encrypt(value.encode()).decode()


def decrypt_value(value: Any) -> Any:
    if not isinstance(value, str) or not value.startswith(PREFIX):
        return value
    try:
        return fernet().decrypt(value[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ValueError("A secret header cannot be decrypted: was HOURGLASS_ENCRYPTION_KEY changed?") from exc


def encrypt_config(config: dict[str, Any], secret_headers: Any = ()) -> dict[str, Any]:
    """A copy of a step's config with the values of its secret headers encrypted."""
    headers = config.get("headers") if isinstance(config, dict) else None
    if not isinstance(headers, dict):
        return config
    extra = tuple(secret_headers or ())
    sealed = {name: encrypt_value(value) if is_secret_name(name, extra) else value for name, value in headers.items()}
    return {**config, "headers": sealed}


def decrypt_config(config: dict[str, Any]) -> dict[str, Any]:
    headers = config.get("headers") if isinstance(config, dict) else None
    if not isinstance(headers, dict) or not any(str(v).startswith(PREFIX) for v in headers.values()):
        return config
    return {**config, "headers": {name: decrypt_value(value) for name, value in headers.items()}}
