"""Secrets stored in the database (a vendor API key of a usage source), encrypted with Fernet.

Keys come from `FIELD_ENCRYPTION_KEYS` (comma-separated Fernet keys): the first encrypts, every
one decrypts, so a key is rotated by putting a new one first and keeping the old ones after it
until every secret was saved again. Without the variable one key is derived from `SECRET_KEY`
(HKDF-SHA256), so changing the secret key then makes stored secrets unreadable.

A stored secret is write-only: it is decrypted only where it is used (a pull, in the worker),
never shown, logged or put in a run's message.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .exceptions import ApplicationError

# Binds the derived key to this purpose: the same SECRET_KEY derives other keys elsewhere.
_HKDF_INFO = b"tokenledger field encryption v1"


class SecretUnreadable(ApplicationError):
    """A stored secret that none of the configured keys decrypts."""


def derived_key(secret_key: str) -> bytes:
    """A Fernet key derived from Django's SECRET_KEY (used when FIELD_ENCRYPTION_KEYS is unset)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


@functools.cache
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        return MultiFernet([Fernet(derived_key(secret_key))])
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must be comma-separated Fernet keys (32 url-safe base64-encoded bytes each; make "
            "one with `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)."
        ) from exc


def fernet() -> MultiFernet:
    keys = tuple(k.strip() for k in getattr(settings, "FIELD_ENCRYPTION_KEYS", []) if k.strip())
    return _fernet(keys, settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    """The text encrypted with the first key (a Fernet token, ASCII)."""
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The text a token holds, decrypted with whichever configured key made it."""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "The stored secret cannot be decrypted with the configured keys (FIELD_ENCRYPTION_KEYS, or "
            "SECRET_KEY when that is unset, was changed without keeping the old key); enter the secret again."
        ) from None


def rotate(token: str) -> str:
    """The same secret encrypted again with the first key (after a key rotation)."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("The stored secret cannot be decrypted with the configured keys.") from None
