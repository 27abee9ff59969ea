"""Outbound URLs a partner gives us, checked against SSRF at subscription time and before each send.

Only https to public addresses; the name is resolved and every address it resolves to must be
global (no private, loopback, link-local, multicast or reserved range), so a DNS name pointing
inside the network is refused like the literal address. Locally `ALERTS_LOOPBACK_PORTS` lets the
test receivers' loopback ports through (plain http too, as they serve no TLS); in Azure it is empty.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

Resolver = Callable[[str, int], list[str]]


class DestinationRefusedError(ValueError):
    """The URL may not be called; `str(error)` says why in words a partner can act on."""


def resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def parse_ports(text: str) -> frozenset[int]:
    """`8080,9000-9010` -> those ports; empty text -> none (Azure)."""
    ports: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        low, _, high = part.partition("-")
        ports.update(range(int(low), int(high or low) + 1))
    return frozenset(ports)


@dataclass(frozen=True)
class OutboundPolicy:
    loopback_ports: frozenset[int] = frozenset()
    resolver: Resolver = field(default=resolve)

    def check(self, url: str) -> None:
        """Raises DestinationRefusedError unless `url` may be called now."""
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http"):
            raise DestinationRefusedError("Only https URLs can receive alerts.")
        if parts.username or parts.password:
            raise DestinationRefusedError("The URL must not carry a user name or password.")
        host = parts.hostname
        if not host:
            raise DestinationRefusedError("The URL names no host.")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as error:
            raise DestinationRefusedError("The URL's port is not a number in range.") from error
        try:
            addresses = self.resolver(host, port)
        except (OSError, UnicodeError) as error:
            raise DestinationRefusedError(f"The host {host} does not resolve.") from error
        if not addresses:
            raise DestinationRefusedError(f"The host {host} does not resolve.")
        local = False
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if address.is_loopback and port in self.loopback_ports:
                local = True
                continue
            if not address.is_global or address.is_multicast:
                raise DestinationRefusedError(
                    f"The host {host} resolves to a private, loopback or link-local address; "
                    "alerts go to public addresses only."
                )
        if parts.scheme != "https" and not local:
            raise DestinationRefusedError("Only https URLs can receive alerts.")
