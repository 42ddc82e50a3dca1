"""Keys derived from the server secret: an HMAC to look codes up by, Fernet to keep them readable.

A database or Redis dump holds only lookup hashes (not reversible without the secret) and Fernet
tokens (not readable without it). No password hashing: a code has 95 random bits, so a fast keyed
hash is enough, and the purchase path stays cheap.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"flashsale-fcodes", info=purpose).derive(secret)


class CodeCrypto:
    def __init__(self, secret: bytes) -> None:
        self._lookup_key = _derive(secret, b"lookup-hmac-v1")
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret, b"at-rest-fernet-v1")))

    def lookup_hash(self, canonical_code: str) -> str:
        """HMAC-SHA256 of the canonical code, hex: the only form Redis keys and SQL lookups see."""
        return hmac.new(self._lookup_key, canonical_code.encode(), hashlib.sha256).hexdigest()

    def encrypt(self, canonical_code: str) -> str:
        return self._fernet.encrypt(canonical_code.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self._fernet.decrypt(token.encode()).decode()
