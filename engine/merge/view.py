"""The merged view of one user over a window, computed on demand from the stored samples.

Only the samples that can decide a window's merged samples are read: per type, those starting
within the type's margins around the window (engine.merge.rules.TypeRule.margins), from the
(user, type, time) index. New samples change the merged view of their own window the next time
it is read; nothing is cached, so nothing goes stale. Pages walk time in spans sized from the
density seen so far, so paging through a range reads each sample about once.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.instants import iso_utc
from engine.merge.combine import Entry, Link, Piece, Rank, combine, ranker
from engine.merge.rules import MergeRules
from engine.spec.catalogue import CATALOGUE
from engine.store.codec import from_micros, to_micros
from engine.store.errors import InvalidCursor
from engine.store.port import Store, StoredSample
from engine.store.sample_document import sample_document

READ_PAGE = 5000
FIRST_SPAN_US = 3_600_000_000  # an hour; later spans follow the density seen
LONGEST_SPAN_US = 31 * 86_400_000_000
SortKey = tuple[int, str, str, str]


@dataclass(frozen=True, slots=True)
class MergedSample:
    piece: Piece
    kind: str

    @property
    def key(self) -> SortKey:
        s = self.piece.entry.sample
        return (self.piece.start, s.sample_type, s.source, s.dedup_id)

    def document(self) -> dict[str, Any]:
        """The stored sample's document (for a part: its times and additive values cut to the
        part), with `merge`: the source, the samples it stands for and the ones it hides."""
        piece, sample = self.piece, self.piece.entry.sample
        body = sample_document(sample.payload, sample.deleted, sample.provenance)
        if not isinstance(body, dict):
            body = {"sample_type": sample.sample_type, "source": sample.source}
        stands: dict[str, Any] = reference(sample)
        if piece.share != 1.0:
            body["timestamp_utc"] = iso_utc(from_micros(piece.start))
            body["end_utc"] = iso_utc(from_micros(piece.end))
            stands["share"] = round(piece.share, 6)
            if self.kind == "additive":
                for name, field in CATALOGUE.types[sample.sample_type].fields.items():
                    value = body.get(name)
                    if field.type == "number" and isinstance(value, int | float):
                        body[name] = value * piece.share
        body["merge"] = {"source": sample.source, "kind": self.kind, "stands_for": [stands],
                         "linked": [link_document(link) for link in piece.links]}
        return body


def reference(sample: StoredSample) -> dict[str, Any]:
    return {"source": sample.source, "dedup_key": sample.dedup_id, "vendor_record_id": sample.vendor_record_id}


def link_document(link: Link) -> dict[str, Any]:
    body = {**reference(link.sample), "reason": link.reason, "score": link.score}
    if link.evidence:
        body["evidence"] = link.evidence
    return body


@dataclass(frozen=True, slots=True)
class MergedPage:
    samples: list[MergedSample]
    next_cursor: str | None


def encode_cursor(key: SortKey) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> SortKey:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        start, sample_type, source, dedup_id = raw
        if not isinstance(start, int) or not all(isinstance(v, str) for v in raw[1:]):
            raise ValueError
    except (ValueError, TypeError, UnicodeDecodeError):
        raise InvalidCursor("cursor is not one this view gave") from None
    return start, sample_type, source, dedup_id


class MergedView:
    """`window` merges one time range; `page` walks a range in pages with a cursor."""

    def __init__(self, store: Store, rules: MergeRules) -> None:
        self.store = store
        self.rules = rules

    async def window(
        self, user_id: str, since: datetime, until: datetime, *,
        sample_types: Sequence[str] | None = None, source: str | None = None,
    ) -> list[MergedSample]:
        """The merged samples starting in [since, until), in order."""
        user = await self.store.merge_priorities(user_id)
        return await self._window(user_id, user, to_micros(since), to_micros(until),
                                  list(sample_types or CATALOGUE.types), source)

    async def page(
        self, user_id: str, *, sample_types: Sequence[str] | None = None, source: str | None = None,
        since: datetime | None = None, until: datetime | None = None, limit: int = 100,
        cursor: str | None = None,
    ) -> MergedPage:
        types = sorted(sample_types or CATALOGUE.types)
        after = decode_cursor(cursor) if cursor is not None else None
        extent = await self.store.sample_time_range(user_id, types)
        if extent is None:
            return MergedPage([], None)
        # Parts of a sample start at most its longest span after the last sample's start.
        longest = max(self.rules.rule(t).margins()[1] for t in types)
        low = to_micros(since) if since is not None else to_micros(extent[0])
        high = to_micros(until) if until is not None else to_micros(extent[1]) + longest + 1
        if after is not None:
            low = max(low, after[0])
        user = await self.store.merge_priorities(user_id)
        found: list[MergedSample] = []
        span, at = FIRST_SPAN_US, low
        while at < high and len(found) <= limit:
            end = min(high, at + span)
            chunk = await self._window(user_id, user, at, end, types, source)
            found.extend(m for m in chunk if after is None or m.key > after)
            density = len(found) / max(1, end - low)
            wanted = (limit + 1 - len(found)) * 1.25
            span = min(LONGEST_SPAN_US, max(FIRST_SPAN_US, int(wanted / density) if density else span * 8))
            at = end
        if len(found) > limit:
            return MergedPage(found[:limit], encode_cursor(found[limit - 1].key))
        return MergedPage(found, None)

    async def _window(
        self, user_id: str, user: dict[str, list[str]], low: int, high: int, types: Sequence[str],
        source: str | None,
    ) -> list[MergedSample]:
        groups: dict[tuple[int, int], list[str]] = defaultdict(list)
        for sample_type in types:
            groups[self.rules.rule(sample_type).margins()].append(sample_type)
        merged: list[MergedSample] = []
        for (before, after), group in groups.items():
            by_type: dict[str, list[StoredSample]] = defaultdict(list)
            for sample in await self._read(user_id, group, low - before, high + after):
                by_type[sample.sample_type].append(sample)
            for sample_type, samples in by_type.items():
                rule = self.rules.rule(sample_type)
                rank = ranker(self.rules.priority(sample_type, user))
                ranks = {source: rank(source) for source in {s.source for s in samples}}
                entries = [_entry(s, ranks[s.source]) for s in samples]
                merged.extend(MergedSample(p, rule.kind) for p in combine(rule, self.rules, entries)
                              if low <= p.start < high and (source is None or p.entry.sample.source == source))
        merged.sort(key=lambda m: m.key)
        return merged

    async def _read(self, user_id: str, types: list[str], low: int, high: int) -> list[StoredSample]:
        samples: list[StoredSample] = []
        cursor = None
        since, until = from_micros(max(0, low)), from_micros(high)
        while True:
            page = await self.store.list_samples(user_id, sample_types=types, since=since, until=until,
                                                 include_deleted=False, limit=READ_PAGE, cursor=cursor)
            samples.extend(page.samples)
            if (cursor := page.next_cursor) is None:
                return samples


def _entry(sample: StoredSample, rank: Rank) -> Entry:
    start = to_micros(sample.timestamp_utc)
    end = start if sample.end_utc is None else max(start, to_micros(sample.end_utc))
    return Entry(sample, start, end, rank)


