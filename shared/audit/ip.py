"""Client IP addresses are anonymised before anything stores them: IPv4 to /24, IPv6 to /48."""

from __future__ import annotations

import ipaddress


def anonymise_ip(text: str | None) -> str | None:
    if not text:
        return None
    candidate = text.split(",")[0].strip()
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
