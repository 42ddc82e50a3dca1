"""JWTs: one pinned algorithm, required claims, a `kid` for secret rotation, and a verified-claims cache.

The purchase path authenticates from the token alone (role is a claim), and verified claims are
cached by the token string so a hot buyer's repeat requests skip the HMAC; `exp` is still checked
on every use.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from core.errors import Unauthorized
from core.settings import Settings

ALGORITHM = "HS256"
REQUIRED = ["exp", "iat", "iss", "aud", "sub", "role"]
_CACHE_MAX = 200_000


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: int
    role: str
    exp: float


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

    def issue(self, user_id: int, role: str) -> tuple[str, int]:
        now = int(time.time())
        payload = {"sub": str(user_id), "role": role, "iat": now, "exp": now + self.ttl,
                   "iss": self.issuer, "aud": self.audience}
        token = jwt.encode(payload, self.keys[self.kid], algorithm=ALGORITHM, headers={"kid": self.kid})
        return token, self.ttl

    def verify(self, token: str) -> Claims:
        cached = self._cache.get(token)
        if cached is not None:
            if cached.exp > time.time():
                return cached
            del self._cache[token]
            raise Unauthorized("Token expired")
        claims = self._decode(token)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()  # crude bound; a cold cache only costs one HMAC per token
        self._cache[token] = claims
        return claims

    def _decode(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
            key = self.keys.get(str(header.get("kid", "")))
            if key is None:
                raise Unauthorized("Unknown signing key")
            data = jwt.decode(token, key, algorithms=[ALGORITHM], audience=self.audience, issuer=self.issuer,
                              options={"require": REQUIRED}, leeway=0)
            role = data["role"]
            if role not in ("shopper", "employee", "operator"):
                raise Unauthorized("Invalid token")
            return Claims(user_id=int(data["sub"]), role=str(role), exp=float(data["exp"]))
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
