"""Which Bot Connector addresses the bot may send to. A valid token vouches for the activity's service URL, but the
bot still sends only to Teams' own hosts, so a token for any other host cannot make it post elsewhere."""

from __future__ import annotations

from urllib.parse import urlsplit

from bot.loopback import is_loopback_host


def service_url_allowed(url: str, allowed_hosts: list[str], *, local_mode: bool) -> bool:
    """https to an allowed host (exact match, any path); plain http only to an `http://` entry's loopback host,
    or to any loopback host in local mode (no authentication, the Playground)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018  (a malformed port raises here)
    except ValueError:
        return False
    if not host or parts.username is not None or parts.password is not None:
        return False
    if parts.scheme == "https":
        return host in allowed_hosts
    if parts.scheme == "http" and is_loopback_host(host):
        return local_mode or f"http://{host}" in allowed_hosts
    return False
