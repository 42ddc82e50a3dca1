"""JWTs: one pinned algorithm, required claims, a `kid` for secret rotation, and a verified-claims cache.

PyJWT decides every token (signature, `alg`, `exp`, `iss`, `aud`); verified claims are cached by
the token string so a hot buyer's repeat requests skip the HMAC and the parse, and `exp` is still
checked on every use. A token also carries its account's token version (`ver`): the caller
compares it with the account's current version in Redis (core/token_versions.py), so a role
change, a password change or "sign out everywhere" ends every older token at once.
"""
from __future__ import annotations

import base64
import time
from dataclasses import dataclass

import jwt
import orjson

from core.errors import Unauthorized
from core.ids import parse_id
from core.settings import Settings

ALGORITHM = "HS256"
REQUIRED = ["exp", "iat", "iss", "aud", "sub", "role"]
_CACHE_MAX = 200_000
ROLES = ("shopper", "employee", "operator")


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: int
    role: str
    exp: float
    ver: int = 0  # the account's token version when this token was issued


def _kid(token: str) -> str | None:
    """The `kid` named in the token's header, only to choose which of our keys PyJWT verifies it with
    (PyJWT then checks the header and the signature itself). jwt.get_unverified_header would parse and
    check every segment, which jwt.decode does again: half the cost of a token seen first."""
    header, _, _ = token.partition(".")
    try:
        kid = orjson.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))).get("kid")
    except (ValueError, TypeError, AttributeError):
        return None  # no key: refused as "Unknown signing key" below
    return kid if isinstance(kid, str) else None


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
        claims = self._decode(token)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()  # crude bound; a cold cache only costs one HMAC per token
        self._cache[token] = claims
        return claims

    def _decode(self, token: str) -> Claims:
        try:
            kid = _kid(token)
            key = self.keys.get(kid) if kid is not None else None
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
        except (jwt.PyJWTError, ValueError, TypeError, KeyError, ArithmeticError, RecursionError) as exc:
            # Whatever a token's shape makes the parse raise (a huge `exp`, JSON nested too deep),
            # it is a refusal: a 401, never a 500.
            raise Unauthorized("Invalid token") from exc

    def from_header(self, authorization: str | None) -> Claims:
        if not authorization:
            raise Unauthorized("Missing bearer token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Missing bearer token")
        return self.verify(token.strip())
