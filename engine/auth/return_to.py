"""Where the callback may send the user's browser back to: only allow-listed origins."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode, urlsplit, urlunsplit


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` in lower case, or None when `url` is not an absolute http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    if "\\" in url or any(ord(ch) < 0x21 for ch in url):
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme.lower()]
    suffix = f":{port}" if port is not None and port != default else ""
    return f"{parts.scheme.lower()}://{host}{suffix}"


def parse_allowlist(raw: str | None) -> frozenset[str]:
    origins = set()
    for item in (raw or "").split(","):
        origin = origin_of(item) if item.strip() else None
        if origin:
            origins.add(origin)
    return frozenset(origins)


def is_allowed(url: str, allowlist: Iterable[str]) -> bool:
    origin = origin_of(url)
    return origin is not None and origin in set(allowlist)


def with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
