"""Pagination strategies: from one page's response, decide the next page's request (or stop).

A strategy never sends anything; the fetch loop asks it for the first page's extra query
parameters, then feeds it each response. ``url`` set on a ``PageRequest`` replaces the endpoint
URL and its templated query (next-URL and Link-header APIs hand back a complete URL).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.spec.model import Paginate


@dataclass(frozen=True, slots=True)
class PageRequest:
    number: int = 1  # 1-based page count, for the max-pages guard
    params: Mapping[str, str] = field(default_factory=dict)
    url: str | None = None


def _present(value: Any) -> bool:
    return value not in (None, "", [], {}, False)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isascii() and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")
_PARAM = re.compile(r';\s*([A-Za-z*]+)\s*=\s*"?([^";]*)"?')


def link_target(header: str | None, rel: str) -> str | None:
    """The URL of the Link header entry whose rel list contains ``rel`` (RFC 8288)."""
    if not header:
        return None
    for match in _LINK.finditer(header):
        url, params = match.group(1), match.group(2)
        for name, value in _PARAM.findall(params):
            if name.lower() == "rel" and rel in value.split():
                return url.strip()
    return None


class Paginator:
    def __init__(self, config: Paginate) -> None:
        self.config = config
        self._seen_cursors: set[str] = set()

    def first(self) -> PageRequest:
        c = self.config
        if c.type == "offset":
            params = {c.param or "offset": "0"}
            if c.limit_param and c.limit:
                params[c.limit_param] = str(c.limit)
            return PageRequest(1, params)
        if c.type == "page":
            params = {c.param or "page": str(c.start)}
            if c.size_param and c.size:
                params[c.size_param] = str(c.size)
            return PageRequest(1, params)
        return PageRequest(1)

    def next(
        self, current: PageRequest, body: Any, headers: Mapping[str, str], records: list[Any]
    ) -> PageRequest | None:
        c = self.config
        number = current.number + 1
        if c.type == "none":
            return None
        if c.type == "cursor":
            token = c.next.search(body) if c.next is not None else None
            if not _present(token):
                return None
            token = str(token)
            if token in self._seen_cursors:  # a vendor handing back a cursor it already gave
                return None
            self._seen_cursors.add(token)
            return PageRequest(number, {**current.params, c.param or "cursor": token}, current.url)
        if c.type == "next_url":
            url = c.next.search(body) if c.next is not None else None
            return PageRequest(number, {}, str(url)) if _present(url) and isinstance(url, str) else None
        if c.type == "link_header":
            url = link_target(headers.get("link"), c.rel)
            return PageRequest(number, {}, url) if url else None
        if c.type == "offset":
            return self._next_offset(current, body, records, number)
        if c.type == "page":
            return self._next_page(current, body, records, number)
        return None

    def _has_more(self, body: Any, records: list[Any], position: int, size: int | None) -> bool:
        c = self.config
        if not records:
            return False
        if c.more is not None:
            return _present(c.more.search(body))
        if c.total is not None:
            total = _as_int(c.total.search(body))
            if total is not None:
                return position < total
        return size is None or len(records) >= size

    def _next_offset(self, current: PageRequest, body: Any, records: list[Any], number: int) -> PageRequest | None:
        c = self.config
        name = c.param or "offset"
        offset = _as_int(current.params.get(name)) or 0
        following = offset + len(records)
        if not records:
            return None
        if c.next_offset is not None:
            if c.more is not None and not _present(c.more.search(body)):
                return None
            given = _as_int(c.next_offset.search(body))
            if given is None or given <= offset:
                return None
            following = given
        elif not self._has_more(body, records, following, c.limit):
            return None
        return PageRequest(number, {**current.params, name: str(following)})

    def _next_page(self, current: PageRequest, body: Any, records: list[Any], number: int) -> PageRequest | None:
        c = self.config
        name = c.param or "page"
        page = _as_int(current.params.get(name))
        page = c.start if page is None else page
        seen = (page - c.start + 1) * (c.size or len(records))
        if not self._has_more(body, records, seen, c.size):
            return None
        return PageRequest(number, {**current.params, name: str(page + 1)})
