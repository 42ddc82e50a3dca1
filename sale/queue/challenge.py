"""ALTCHA proof of work for joining a waiting room: challenges bound to one drop and one account.

Deterministic mode (the `altcha` library's `counter`): the server draws a secret counter below
`max_number` and the client must find it, so the expected work is max_number / 2 hashes and
max_number is the difficulty. The derived key is signed as well (key signature), so verifying
costs two HMACs, not a search. Single use is the caller's part (the join script records it)."""
from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

import altcha

from sale.queue.exceptions import ChallengeFailed

ALGORITHM = "SHA-256"  # the widget's bundled SHA worker; one iteration per try
COST = 1


@dataclass(frozen=True, slots=True)
class Difficulty:
    min_number: int
    number_per_join: int
    max_number: int

    def max_number_for(self, joins_per_second: int) -> int:
        return min(self.max_number, self.min_number + self.number_per_join * max(0, joins_per_second))


class Challenges:
    def __init__(self, secret: bytes, ttl_seconds: int, difficulty: Difficulty) -> None:
        # Two keys derived from the application secret: one signs challenges, one derived keys.
        self._secret = hmac.new(secret, b"altcha-challenge", "sha256").hexdigest()
        self._key_secret = hmac.new(secret, b"altcha-key", "sha256").hexdigest()
        self.ttl = ttl_seconds
        self.difficulty = difficulty

    def create(self, drop_id: int, user_id: int, joins_per_second: int) -> dict[str, Any]:
        """The challenge JSON the widget fetches (ALTCHA v2)."""
        max_number = self.difficulty.max_number_for(joins_per_second)
        challenge = altcha.create_challenge(
            ALGORITHM, COST, counter=secrets.randbelow(max_number), expires_at=int(time.time()) + self.ttl,
            data={"drop": str(drop_id), "user": str(user_id)},
            hmac_secret=self._secret, hmac_key_secret=self._key_secret)
        out: dict[str, Any] = challenge.to_dict()
        return out

    def verify(self, payload: str, drop_id: int, user_id: int) -> str:
        """The solved challenge's signature (its single-use id); raises challenge_failed."""
        try:
            parsed = altcha.Payload.from_base64(payload)
            result = altcha.verify_solution(parsed, self._secret, hmac_key_secret=self._key_secret)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise ChallengeFailed("The challenge payload is malformed") from exc
        if not result.verified:
            raise ChallengeFailed("The challenge has expired" if result.expired else None)
        if parsed.challenge.parameters.data != {"drop": str(drop_id), "user": str(user_id)}:
            raise ChallengeFailed("The challenge was issued for another drop or account")
        signature = parsed.challenge.signature
        assert signature is not None  # verified implies signed
        return signature
