"""A draw's seed: 32 random bytes from `secrets`, kept secret until the draw; its commitment (the hex
SHA-256 of the bytes) is public from the moment entries open."""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from sale.draw.models import Draw


def commitment_of(seed_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(seed_hex)).hexdigest()


def new_draw(drop_id: int) -> Draw:
    seed = secrets.token_bytes(32)
    return Draw(drop_id=drop_id, commitment=hashlib.sha256(seed).hexdigest(), seed=seed.hex())


def score(seed_hex: str, entry_id: str) -> str:
    """An entry's score: the hex SHA-256 of the UTF-8 text "<seed as hex>:<entry id>"."""
    return hashlib.sha256(f"{seed_hex}:{entry_id}".encode()).hexdigest()


def ranked(seed_hex: str, entry_ids: Iterable[bytes]) -> list[bytes]:
    """The entry ids (UTF-8) by score ascending (rank 1 first), in one pass of hashlib: each sorted as
    its digest's bytes and then its id, which orders as the hex score does (ties, which SHA-256 does
    not make, by id)."""
    base = hashlib.sha256(f"{seed_hex}:".encode())
    keys = []
    for eid in entry_ids:
        digest = base.copy()
        digest.update(eid)
        keys.append(digest.digest() + eid)
    keys.sort()
    return [key[32:] for key in keys]
