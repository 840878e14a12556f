"""Links people paste into forms (a session's Teams meeting, a feedback form, an announcement's "find out more").
One reading of a pasted link, so a broken one is refused with a message everywhere, never a crash."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

MAX_LINK = 1000


def https_link(url: str) -> SplitResult | None:
    """The parts of a plain https link to a named host, or None when it is not one: too long, spaces or control
    characters in it, unreadable (a port that is not a number, a stray "["), not https, no dotted host name, a
    user name or password in it, or a port other than 443."""
    if len(url) > MAX_LINK or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "https" or "." not in (parts.hostname or "") or parts.username or parts.password:
        return None
    return parts if port in (None, 443) else None


def is_https_link(url: str) -> bool:
    return https_link(url) is not None
