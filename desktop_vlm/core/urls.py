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


def check_endpoint(base_url: str, has_key: bool, local_only: bool = False) -> None:
    """Refuse a base URL that is not http(s), sending a key in clear text anywhere but this
    machine, and with ``local_only`` any server not on this machine (ConfigError /
    InsecureEndpointError, each saying what to do). Nothing is looked up or contacted here."""
    from desktop_vlm.core.errors import ConfigError, InsecureEndpointError
    from desktop_vlm.core.secrets_rules import base_url_problem

    problem = base_url_problem(base_url)
    if problem:
        # The URL itself is not repeated: it may carry a password.
        raise ConfigError(problem, "Set base_url in Settings, config.toml or DESKTOP_VLM_BASE_URL")
    parts = urlsplit(base_url)
    if local_only and not is_loopback_host(parts.hostname):
        raise ConfigError(
            f"Local only is on, so {parts.hostname} (not this machine) is not contacted",
            "Use the offline engine or a server on this machine, or switch local only off",
        )
    if has_key and parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise InsecureEndpointError(
            f"Refusing to send the API key over plain HTTP to {parts.hostname}",
            "Use an https:// base URL (plain http is allowed only for 127.0.0.1/localhost)",
        )
