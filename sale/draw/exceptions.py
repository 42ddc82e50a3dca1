from __future__ import annotations

from core.errors import DomainError


class EntriesClosed(DomainError):
    status, code, title = 403, "entries_closed", "Entries to this draw are not open"


class NotEntered(DomainError):
    status, code, title = 404, "not_entered", "You have no entry in this draw"


class NotADraw(DomainError):
    status, code, title = 409, "not_a_draw", "This drop is not a draw"


class DrawNotMade(DomainError):
    status, code, title = 409, "draw_not_made", "The draw is not made yet"


class EntryAddressLimit(DomainError):
    """Too many entries from one client address (an IPv6 one by its /64), whatever their accounts."""

    status, code, title = 409, "entry_address_limit", "Too many entries from your network in this draw"


class DrawMade(DomainError):
    status, code, title = 409, "draw_made", "The draw is made: entries can no longer be voided"
