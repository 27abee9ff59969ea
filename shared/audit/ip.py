"""Client IP addresses are anonymised before anything stores them: IPv4 to /24, IPv6 to /48."""

from __future__ import annotations

import ipaddress


def client_address(forwarded_for: str | None, *, trusted_proxies: int) -> str | None:
    """The caller's address from X-Forwarded-For, counted from the right.

    Each hop appends the address that connected to it, and the Functions front end appends last;
    entries further left came from the client and prove nothing. So the client is the entry
    `trusted_proxies` places left of the last one (the leftmost when the header is shorter).
    """
    entries = [part.strip() for part in (forwarded_for or "").split(",") if part.strip()]
    if not entries:
        return None
    return entries[max(0, len(entries) - 1 - trusted_proxies)]


def anonymise_ip(text: str | None) -> str | None:
    """The network of one address (`v4`, `v4:port`, `v6` or `[v6]:port`), or None if it is none."""
    if not text:
        return None
    candidate = text.strip()
    if candidate.startswith("["):  # [v6]:port
        candidate = candidate[1:].split("]")[0]
    elif candidate.count(":") == 1:  # v4:port
        candidate = candidate.split(":")[0]
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)
