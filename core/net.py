"""Network helpers: loopback ports for the processes this project starts itself (embedded Redis,
test and bench servers), and what part of a client address identifies the client."""
from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the caller binds it soon after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@lru_cache(maxsize=65_536)  # on every purchase and limit; parsing with ipaddress costs ~15 us
def address_block(client: str) -> str:
    """The part of a client address a visitor cannot change for free: an IPv4 address, or an IPv6
    address's /64 (one subscriber's block: every address in it is theirs to use)."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client[:64]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address.ipv4_mapped or address) if isinstance(address, ipaddress.IPv6Address) else str(address)


@lru_cache(maxsize=8)
def networks(setting: str) -> tuple[Network, ...]:
    """A setting listing addresses or networks (CIDR), comma-separated (FLASHSALE_TRUSTED_PROXIES,
    FLASHSALE_METRICS_ALLOW), parsed once."""
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in setting.split(",") if item.strip())


def within(address: str, among: tuple[Network, ...]) -> bool:
    """Whether `address` is in one of the networks (an IPv4-mapped IPv6 address as its IPv4)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return any(parsed in network for network in among)


def forwarded_client(peer: str, forwarded_for: str | None, proxies: tuple[Network, ...]) -> str:
    """The client's address, per the contract: the peer itself unless the peer is a trusted proxy
    (X-Forwarded-For is then read, never otherwise: loopback is no exception); behind trusted
    proxies, the rightmost address in the header that is not itself a trusted proxy. Entries to its
    left were written by the client and prove nothing."""
    if not proxies or not forwarded_for or not within(peer, proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",")]
    for hop in reversed(hops):
        if hop and not within(hop, proxies):
            return hop
    return next((hop for hop in hops if hop), peer)  # every hop a proxy of ours: the farthest one
