"""The draw's pages: every entry's rank as the draw made it, "<entry id> <rank> <status>" lines sorted
by entry id (status won, backup or lost as drawn), PAGE_LINES a page. A lost entry's rank never
changes, so it is stored here only; what became of a win (lapsed, a backup's turn) is in draw_ranks
and laid over the drawn status when the results are read. Entry ids are hex: a space sorts before
any of their characters, so the lines sort as their ids do."""
from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import AsyncIterator, Iterable, Sequence

PAGE_LINES = 1000
_RANK_AND_STATUS = re.compile(r" [^\n]*")


def drawn_status(rank: int, winners: int, backups: int) -> str:
    return "won" if rank <= winners else "backup" if rank <= winners + backups else "lost"


def build_pages(order: Sequence[bytes], winners: int, backups: int,
                per_page: int = PAGE_LINES) -> list[tuple[str, str]]:
    """(last entry id, lines) of each page, from the entry ids in rank order."""
    top = winners + backups
    lines = [b"%s %d %s\n" % (eid, rank, b"won" if rank <= winners else b"backup" if rank <= top else b"lost")
             for rank, eid in enumerate(order, 1)]
    lines.sort()
    pages: list[tuple[str, str]] = []
    for i in range(0, len(lines), per_page):
        chunk = lines[i:i + per_page]
        pages.append((chunk[-1].split(b" ", 1)[0].decode(), b"".join(chunk).decode()))
    return pages


def rank_in(lines: str, entry_id: str) -> int | None:
    """The entry's rank on a page, or None when the page does not list it."""
    text = "\n" + lines
    at = text.find(f"\n{entry_id} ")
    if at < 0:
        return None
    start = at + len(entry_id) + 2
    return int(text[start:text.index(" ", start)])


def entry_ids(lines: str) -> str:
    """A page's entry ids, one a line."""
    return _RANK_AND_STATUS.sub("", lines)


async def results(pages: AsyncIterator[str], changed: Iterable[tuple[str, int, str, str]]) -> AsyncIterator[str]:
    """The pages with what became of each changed win laid over its drawn status: `changed` holds
    (entry id, rank, status as drawn, status now) of each winner or backup whose status moved on."""
    found = sorted(changed)
    ids = [eid for eid, *_ in found]
    done = 0
    async for lines in pages:
        last = lines.rsplit("\n", 2)[-2].split(" ", 1)[0]
        upto = bisect_left(ids, last, lo=done)
        upto += upto < len(ids) and ids[upto] == last
        if upto > done:
            text = "\n" + lines
            for eid, rank, drawn, now in found[done:upto]:
                text = text.replace(f"\n{eid} {rank} {drawn}\n", f"\n{eid} {rank} {now}\n", 1)
            lines = text[1:]
        done = upto
        yield lines
