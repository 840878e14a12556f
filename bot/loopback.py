"""This machine's own addresses. Some things are allowed only there: a bot with no authentication, and plain http
to local doubles of Microsoft's services (tests, the playground)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(host: str) -> bool:
    """localhost, or an IP address of this machine (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_http(url: str) -> bool:
    """A plain http address on this machine."""
    parts = urlsplit(url)
    return parts.scheme == "http" and bool(parts.hostname) and is_loopback_host(parts.hostname or "")
