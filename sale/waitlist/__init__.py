"""The waitlist after sell-out (issue 22): accounts join once a drop is sold out; units that come back
(expired, cancelled, refunded) are kept for it by purchase.lua and offered in order, each held for its
holder for the drop's `waitlist_hold_minutes`; the holder is told by message (the order sink writes it
from the drop's stream); holds not used in time pass on to the next."""
