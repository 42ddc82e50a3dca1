"""JWTs: one pinned algorithm, required claims, a `kid` for secret rotation, and a verified-claims cache.

Verified claims are cached by the token string so a hot buyer's repeat requests skip the HMAC;
`exp` is still checked on every use. A token also carries its account's token version (`ver`):
the caller compares it with the account's current version in Redis (core/token_versions.py), so a
role change, a password change or "sign out everywhere" ends every older token at once.

A token not in the cache is checked by `_fast` first: exactly the shape this service issues (HS256,
a known `kid`, our claims with their types), verified with hmac and orjson. Anything else, and every
refusal, goes to PyJWT, which decides and words the error. PyJWT checks each base64 character in
Python and parses the token twice: ~60 us per token against ~10, paid once per buyer and worker.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
import warnings
from dataclasses import dataclass
from typing import Any

import jwt
import orjson

from core.errors import Unauthorized
from core.ids import parse_id
from core.settings import Settings

ALGORITHM = "HS256"
REQUIRED = ["exp", "iat", "iss", "aud", "sub", "role"]
_CACHE_MAX = 200_000
ROLES = ("shopper", "employee", "operator")
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")  # base64url without padding
_HEADER_FIELDS = frozenset(("alg", "typ", "kid"))
_CLAIM_FIELDS = frozenset(("sub", "role", "iat", "exp", "iss", "aud", "ver"))


def _unb64(segment: str) -> bytes | None:
    """The bytes of a canonical unpadded base64url segment; None for anything else."""
    if not _SEGMENT.fullmatch(segment):
        return None
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if _b64(data) == segment else None  # other trailing bits: PyJWT refuses them too


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _pyjwt_accepts(secret: str) -> bool:
    """Whether PyJWT verifies HS256 with this key (it refuses PEM- or SSH-looking ones): the fast
    path uses only keys PyJWT would, so it never accepts a token PyJWT refuses."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            jwt.decode(jwt.encode({"p": 1}, secret, algorithm=ALGORITHM), secret, algorithms=[ALGORITHM])
    except (jwt.PyJWTError, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: int
    role: str
    exp: float
    ver: int = 0  # the account's token version when this token was issued


class TokenService:
    def __init__(self, settings: Settings) -> None:
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.ttl = settings.jwt_ttl_seconds
        self.kid = settings.jwt_kid
        self.keys: dict[str, str] = {settings.jwt_kid: settings.jwt_secret}
        for pair in filter(None, (p.strip() for p in settings.jwt_old_secrets.split(","))):
            kid, _, secret = pair.partition("=")
            if kid and secret and kid not in self.keys:
                self.keys[kid] = secret
        self._cache: dict[str, Claims] = {}
        self._hmac_keys = {kid: secret.encode() for kid, secret in self.keys.items() if _pyjwt_accepts(secret)}

    def issue(self, user_id: int, role: str, version: int = 0) -> tuple[str, int]:
        now = int(time.time())
        payload = {"sub": str(user_id), "role": role, "iat": now, "exp": now + self.ttl,
                   "iss": self.issuer, "aud": self.audience, "ver": version}
        token = jwt.encode(payload, self.keys[self.kid], algorithm=ALGORITHM, headers={"kid": self.kid})
        return token, self.ttl

    def verify(self, token: str) -> Claims:
        cached = self._cache.get(token)
        if cached is not None:
            if cached.exp > time.time():
                return cached
            del self._cache[token]
            raise Unauthorized("Token expired")
        claims = self._fast(token) or self._decode(token)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()  # crude bound; a cold cache only costs one HMAC per token
        self._cache[token] = claims
        return claims

    def _fast(self, token: str) -> Claims | None:
        """The claims of a well-formed, current token of exactly our shape, or None (PyJWT decides)."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        head, body, signature = parts
        header_raw, payload_raw = _unb64(head), _unb64(body)
        if header_raw is None or payload_raw is None:
            return None
        try:
            header: Any = orjson.loads(header_raw)
            data: Any = orjson.loads(payload_raw)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(header, dict) or not isinstance(data, dict) or not header.keys() <= _HEADER_FIELDS \
                or header.get("alg") != ALGORITHM or header.get("typ", "JWT") != "JWT":
            return None
        key = self._hmac_keys.get(header.get("kid"))  # type: ignore[arg-type]
        if key is None:
            return None
        mac = hmac.new(key, f"{head}.{body}".encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(_b64(mac), signature):
            return None
        sub, role, iat, exp, version = (data.get("sub"), data.get("role"), data.get("iat"), data.get("exp"),
                                        data.get("ver", 0))
        if not data.keys() <= _CLAIM_FIELDS or data.get("iss") != self.issuer or data.get("aud") != self.audience \
                or role not in ROLES or type(iat) is not int or type(exp) is not int or type(version) is not int \
                or not isinstance(sub, str) or not 0 <= version < 2**31:
            return None
        now = time.time()
        user_id = parse_id(sub)
        if user_id is None or iat > int(now) or exp <= now:
            return None
        return Claims(user_id=user_id, role=str(role), exp=float(exp), ver=version)

    def _decode(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
            key = self.keys.get(str(header.get("kid", "")))
            if key is None:
                raise Unauthorized("Unknown signing key")
            data = jwt.decode(token, key, algorithms=[ALGORITHM], audience=self.audience, issuer=self.issuer,
                              options={"require": REQUIRED}, leeway=0)
            role, sub, version = data["role"], data["sub"], data.get("ver", 0)
            # PyJWT accepts an `aud` list that contains ours: this service only ever issues one.
            if data["aud"] != self.audience or role not in ROLES:
                raise Unauthorized("Invalid token")
            user_id = parse_id(sub) if isinstance(sub, str) else None
            if user_id is None or type(version) is not int or not 0 <= version < 2**31:
                raise Unauthorized("Invalid token")
            return Claims(user_id=user_id, role=str(role), exp=float(data["exp"]), ver=version)
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Token expired") from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise Unauthorized("Invalid token") from exc

    def from_header(self, authorization: str | None) -> Claims:
        if not authorization:
            raise Unauthorized("Missing bearer token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Missing bearer token")
        return self.verify(token.strip())
