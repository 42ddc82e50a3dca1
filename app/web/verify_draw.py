#!/usr/bin/env python3
"""Check a flashsale draw yourself (Python 3.8+, standard library only).

    python3 verify_draw.py https://shop.example/drops/42
    python3 verify_draw.py https://shop.example 42

It downloads the draw (GET /api/drops/ID/draw), every entry id (.../draw/entries.txt) and the published
results (.../draw/results.txt), checks that the seed hashes to the commitment published when entries
opened, recomputes every entry's score (hex SHA-256 of "<seed hex>:<entry id>") and rank (scores
ascending), and prints each rank with whether it matches the published one. Exit status 0 when all do.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
import urllib.request


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 (the URL is the user's)
        data: bytes = answer.read()
        return data


def api_base(argv: list[str]) -> tuple[str, str]:
    if len(argv) == 3:
        return argv[1].rstrip("/"), argv[2]
    found = re.match(r"^(https?://[^/]+)(?:/api)?/drops/(\d+)", argv[1]) if len(argv) == 2 else None
    if not found:
        sys.exit(__doc__)
    return found.group(1), found.group(2)


def ranks(seed: str, entry_ids: list[str]) -> dict[str, int]:
    prefix = f"{seed}:".encode()
    scored = sorted((hashlib.sha256(prefix + eid.encode()).hexdigest(), eid) for eid in entry_ids)
    return {eid: n for n, (_, eid) in enumerate(scored, start=1)}


def main(argv: list[str]) -> int:
    base, drop_id = api_base(argv)
    draw = json.loads(fetch(f"{base}/api/drops/{drop_id}/draw"))
    seed, commitment = draw.get("seed"), draw.get("commitment")
    if not seed:
        print("The draw is not made yet: the seed is published at the draw.")
        return 2
    seed_ok = hashlib.sha256(bytes.fromhex(seed)).hexdigest() == commitment
    print(f"commitment {commitment}\nseed       {seed}\nseed matches the commitment: {'yes' if seed_ok else 'NO'}")
    entry_ids = [line.strip() for line in fetch(f"{base}/api/drops/{drop_id}/draw/entries.txt").decode().splitlines()
                 if line.strip()]
    published: dict[str, tuple[int, str]] = {}
    for line in fetch(f"{base}/api/drops/{drop_id}/draw/results.txt").decode().splitlines():
        if line.strip():
            eid, shown_rank, shown_status = line.split()
            published[eid] = (int(shown_rank), shown_status)
    mine = ranks(seed, entry_ids)
    winners, backups = int(draw.get("winners") or 0), int(draw.get("backups") or 0)
    bad = 0 if seed_ok else 1
    if len(entry_ids) != int(draw.get("entries") or 0) or set(published) != set(entry_ids):
        print("the entry list and the published results name different entries: NO")
        bad += 1
    for eid, rank in sorted(mine.items(), key=lambda item: item[1]):
        expected = "won" if rank <= winners else "backup" if rank <= winners + backups else "lost"
        their_rank, status = published.get(eid, (0, "missing"))
        same = their_rank == rank and (status == expected or (expected != "lost" and status in ("won", "lapsed")))
        bad += 0 if same else 1
        print(f"{rank:>8} {eid} {expected:<6} published: {their_rank} {status:<7} {'ok' if same else 'MISMATCH'}")
    print(f"{len(mine)} entries, {winners} winners, {backups} backups, {draw.get('voided', 0)} voided before the draw")
    print("every rank matches" if not bad else f"{bad} mismatch(es)")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
