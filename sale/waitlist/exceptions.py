from core.errors import DomainError


class NotSoldOut(DomainError):
    """Joining the waitlist while units are left: buy one instead."""

    status, code, title = 409, "not_sold_out", "This drop is not sold out: units are left to buy"


class WaitlistClosed(DomainError):
    status, code, title = 409, "waitlist_closed", "This drop takes no waitlist (it has ended, or is a draw)"


class NotOnWaitlist(DomainError):
    status, code, title = 404, "not_on_waitlist", "You are not on this drop's waitlist"
