"""The draw's pages: every entry's rank packed a page of lines a row. A lost entrant's rank is read
from its page, so what the pages say must be what anyone recomputes from the seed and the entry ids
(the contract's ranks), across many pages, with what became of wins laid over the drawn status."""
from __future__ import annotations

import secrets
from bisect import bisect_left
from collections.abc import AsyncIterator

from sale.draw.pages import build_pages, drawn_status, entry_ids, rank_in, results
from sale.draw.seed import ranked
from tests.support.draws import recompute


async def _stream(pages: list[tuple[str, str]]) -> AsyncIterator[str]:
    for _, lines in pages:
        yield lines


async def test_every_rank_on_the_pages_is_the_recomputed_one() -> None:
    seed = secrets.token_hex(32)
    ids = [secrets.token_hex(8) for _ in range(2_345)] + ["0", "f" * 16, "abc"]  # odd lengths too
    expected = recompute(seed, ids)
    order = ranked(seed, [eid.encode() for eid in ids])
    assert [eid.decode() for eid in order] == sorted(expected, key=expected.__getitem__)
    winners, backups = 7, 5
    pages = build_pages(order, winners, backups, per_page=100)
    assert len(pages) == 24 and all(lines.count("\n") == 100 for _, lines in pages[:-1])
    lasts = [last for last, _ in pages]
    assert lasts == sorted(lasts)
    for eid, rank in expected.items():  # a lost entrant's lookup: the first page whose last id >= its own
        lines = pages[bisect_left(lasts, eid)][1]
        assert rank_in(lines, eid) == rank, eid
    assert rank_in(pages[0][1], "not-an-entry") is None
    listed = "".join(entry_ids(lines) for _, lines in pages).splitlines()
    assert listed == sorted(ids)
    published = [line.split() for _, lines in pages for line in lines.splitlines()]
    assert {eid: (int(rank), status) for eid, rank, status in published} == {
        eid: (rank, drawn_status(rank, winners, backups)) for eid, rank in expected.items()}


async def test_results_lay_what_became_of_wins_over_the_drawn_status() -> None:
    seed = secrets.token_hex(32)
    ids = [secrets.token_hex(8) for _ in range(500)]
    order = ranked(seed, [eid.encode() for eid in ids])
    pages = build_pages(order, 3, 3, per_page=40)
    by_rank = [eid.decode() for eid in order]
    lapsed, turned = by_rank[0], by_rank[3]  # the first win lapsed and passed to the first backup
    changed = [(lapsed, 1, "won", "lapsed"), (turned, 4, "backup", "won")]
    text = "".join([lines async for lines in results(_stream(pages), changed)])
    found = {line.split()[0]: line.split()[2] for line in text.splitlines()}
    assert len(found) == 500 and found[lapsed] == "lapsed" and found[turned] == "won"
    assert found[by_rank[1]] == "won" and found[by_rank[4]] == "backup" and found[by_rank[6]] == "lost"
