"""Facts about URLs that decide where a key may be sent."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(
        ".localhost"
    ):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def needs_key(base_url: str) -> bool:
    """A server on this machine usually runs without a key; any other one needs one."""
    return not is_loopback_host(urlsplit(base_url).hostname)
