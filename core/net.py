"""Network helpers: loopback ports for the processes this project starts itself (embedded Redis,
test and bench servers), and what part of a client address identifies the client."""
from __future__ import annotations

import ipaddress
import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the caller binds it soon after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
