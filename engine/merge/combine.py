"""How the samples of one type from several sources become the merged view's samples, per the
type's kind: additive and timeline intervals cut into sub-intervals taken from the best source
covering each, events (one survivor per real event, duplicates linked with reason and score),
points per time bucket, measurements deduplicated by time and value."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.merge.rules import MergeRules, TypeRule
from engine.store.records import StoredSample

Rank = tuple[int, str]
_LONGEST_SPAN_US = 31 * 86_400_000_000  # no interval sample is longer; a scan back stops there


@dataclass(slots=True)
class Entry:
    """A stored sample with its times in microseconds (end == start for an instant) and its
    source's rank (lower is preferred)."""

    sample: StoredSample
    start: int
    end: int
    rank: Rank


@dataclass(frozen=True, slots=True)
class Link:
    """A stored sample a merged sample hides, and why."""

    sample: StoredSample
    reason: str  # duplicate | overlap | covered | bucket
    score: float
    evidence: dict[str, Any] | None = None


@dataclass(slots=True)
class Piece:
    """One sample of the merged view: a stored sample, or the part of it from `start` to `end`
    (`share` of its interval and of its additive values)."""

    entry: Entry
    start: int
    end: int
    share: float = 1.0
    links: list[Link] = field(default_factory=list)


def ranker(priority: Sequence[str]) -> Callable[[str], Rank]:
    """Listed sources first, in order; the others after them, by name."""
    order = {source: index for index, source in enumerate(priority)}
    return lambda source: (order.get(source, len(order)), source)


def combine(rule: TypeRule, rules: MergeRules, entries: list[Entry]) -> list[Piece]:
    if rule.kind in ("additive", "timeline"):
        return _sweep(entries)
    if rule.kind == "event":
        return _events(rule, rules, entries)
    if rule.kind == "bucket":
        return _buckets(rule, entries)
    if rule.kind == "measurement":
        return _measurements(rule, entries)
    return [Piece(e, e.start, e.end) for e in entries]


# --------------------------------------------------------------------------- intervals


def _sweep(entries: list[Entry]) -> list[Piece]:
    """Each elementary sub-interval from the best-ranked source with a sample covering it; a
    sample loses the parts a better source covers, and is linked to the pieces that cover it."""
    spans = [e for e in entries if e.end > e.start]
    starts: dict[int, list[int]] = defaultdict(list)
    ends: dict[int, list[int]] = defaultdict(list)
    for index, e in enumerate(spans):
        starts[e.start].append(index)
        ends[e.end].append(index)
    bounds = sorted(starts.keys() | ends.keys())
    active: set[int] = set()
    open_piece: dict[int, Piece] = {}
    pieces: list[Piece] = []
    covered: dict[tuple[int, int], int] = defaultdict(int)  # (loser, id(piece)) -> microseconds
    by_id: dict[int, Piece] = {}
    for at, following in zip(bounds, bounds[1:], strict=False):
        active.difference_update(ends.get(at, ()))
        active.update(starts.get(at, ()))
        best = min((spans[i].rank for i in active), default=None)
        for index in [i for i in open_piece if i not in active or spans[i].rank != best]:
            del open_piece[index]
        if best is None:
            continue
        winners = []
        for index in active:
            if spans[index].rank != best:
                continue
            piece = open_piece.get(index)
            if piece is None:
                piece = open_piece[index] = Piece(spans[index], at, following)
                pieces.append(piece)
                by_id[id(piece)] = piece
            piece.end = following
            winners.append(piece)
        for index in active:
            if spans[index].rank != best:
                for piece in winners:
                    covered[(index, id(piece))] += following - at
    for (index, piece_id), micros in covered.items():
        loser = spans[index]
        by_id[piece_id].links.append(Link(loser.sample, "covered", round(micros / (loser.end - loser.start), 4)))
    for piece in pieces:
        piece.share = (piece.end - piece.start) / (piece.entry.end - piece.entry.start)
    pieces.extend(_instants([e for e in entries if e.end <= e.start], pieces))
    return pieces


def _instants(instants: list[Entry], pieces: list[Piece]) -> list[Piece]:
    """An instant is hidden when a better source's piece covers it, else shown."""
    if not instants:
        return []
    ordered = sorted(pieces, key=lambda p: p.start)
    starts = [p.start for p in ordered]
    shown = []
    for e in instants:
        cover = None
        for position in range(bisect.bisect_right(starts, e.start) - 1, -1, -1):
            piece = ordered[position]
            if e.start < piece.end and piece.entry.rank < e.rank:
                cover = piece
                break
            if e.start - piece.start > _LONGEST_SPAN_US:
                break
        if cover is None:
            shown.append(Piece(e, e.start, e.end))
        else:
            cover.links.append(Link(e.sample, "covered", 1.0))
    return shown


# --------------------------------------------------------------------------- events


def _events(rule: TypeRule, rules: MergeRules, entries: list[Entry]) -> list[Piece]:
    """Best-ranked first: an event overlapping a better source's survivor is linked to it (a
    `duplicate` when the match rules hold, else an `overlap` when it overlaps by more than the
    tolerance); any other event survives."""
    survivors: list[Piece] = []
    starts: list[tuple[int, int]] = []
    for entry in sorted(entries, key=lambda e: (e.rank, e.start, e.sample.dedup_id)):
        low = bisect.bisect_left(starts, (entry.start - rule.max_duration_us, -1))
        best: tuple[float, Piece, dict[str, Any]] | None = None
        widest: tuple[int, Piece] | None = None
        for _, position in starts[low:bisect.bisect_right(starts, (entry.end, len(survivors)))]:
            survivor = survivors[position]
            if survivor.entry.sample.source == entry.sample.source:
                continue
            overlap = min(entry.end, survivor.end) - max(entry.start, survivor.start)
            matched = _match(rule, rules, entry, survivor.entry, overlap)
            if matched is not None and (best is None or matched[0] > best[0]):
                best = (matched[0], survivor, matched[1])
            elif overlap > rule.overlap_tolerance_us and (widest is None or overlap > widest[0]):
                widest = (overlap, survivor)
        if best is not None:
            best[1].links.append(Link(entry.sample, "duplicate", best[0], best[2]))
        elif widest is not None:
            share = widest[0] / max(1, entry.end - entry.start)
            widest[1].links.append(Link(entry.sample, "overlap", round(share, 4),
                                        {"overlap_s": widest[0] / 1_000_000}))
        else:
            bisect.insort(starts, (entry.start, len(survivors)))
            survivors.append(Piece(entry, entry.start, entry.end))
    return survivors


def _match(rule: TypeRule, rules: MergeRules, a: Entry, b: Entry, overlap: int) -> tuple[float, dict[str, Any]] | None:
    """(score, evidence) when `a` and `b` are the same real event, else None."""
    start_gap, end_gap = abs(a.start - b.start), abs(a.end - b.end)
    if overlap <= 0 or start_gap > rule.start_within_us or end_gap > rule.end_within_us:
        return None
    union = max(a.end, b.end) - min(a.start, b.start)
    iou = overlap / union
    evidence: dict[str, Any] = {"start_delta_s": (a.start - b.start) / 1_000_000,
                                "end_delta_s": (a.end - b.end) / 1_000_000, "time_overlap": round(iou, 4)}
    if rule.same_activity_family:
        family_a = rules.family(a.sample.payload.get("activity"))
        family_b = rules.family(b.sample.payload.get("activity"))
        if family_a is not None and family_b is not None and family_a != family_b:
            return None
        if family_a is not None and family_a == family_b:
            evidence["activity_family"] = family_a
    closeness = _values_agree(rule, a.sample.payload, b.sample.payload, evidence)
    if closeness is None:
        return None
    parts = [iou, *closeness]
    return round(sum(parts) / len(parts), 4), evidence


def _values_agree(rule: TypeRule, a: dict[str, Any], b: dict[str, Any], evidence: dict[str, Any]) -> list[float] | None:
    """Per compared field both samples have, how close they are (1 = equal); None if one is
    outside its tolerance."""
    closeness = []
    for tolerance in rule.values:
        x, y = a.get(tolerance.field), b.get(tolerance.field)
        if not isinstance(x, int | float) or not isinstance(y, int | float):
            continue
        if not tolerance.agrees(x, y):
            return None
        larger = max(abs(x), abs(y))
        closeness.append(1.0 if larger == 0 else 1 - abs(x - y) / larger)
        evidence[f"{tolerance.field}_delta"] = round(x - y, 6)
    return closeness


# --------------------------------------------------------------------------- points


def _buckets(rule: TypeRule, entries: list[Entry]) -> list[Piece]:
    """Per time bucket, the samples of the best-ranked source with data in it; the other
    sources' samples there are linked to its first sample."""
    buckets: dict[int, list[Entry]] = defaultdict(list)
    size = rule.bucket_us
    for e in entries:
        buckets[e.start // size].append(e)
    pieces = []
    for group in buckets.values():
        if len(group) == 1:
            e = group[0]
            pieces.append(Piece(e, e.start, e.end))
            continue
        best = min(e.rank for e in group)
        shown = sorted((e for e in group if e.rank == best), key=lambda e: e.start)
        first = Piece(shown[0], shown[0].start, shown[0].end,
                      links=[Link(e.sample, "bucket", 1.0) for e in group if e.rank != best])
        pieces.append(first)
        pieces.extend(Piece(e, e.start, e.end) for e in shown[1:])
    return pieces


def _measurements(rule: TypeRule, entries: list[Entry]) -> list[Piece]:
    """Best-ranked first: a measurement within `within` of a better source's survivor, its
    values agreeing, is that survivor's duplicate; any other survives."""
    survivors: list[Piece] = []
    starts: list[tuple[int, int]] = []
    for entry in sorted(entries, key=lambda e: (e.rank, e.start, e.sample.dedup_id)):
        low = bisect.bisect_left(starts, (entry.start - rule.within_us, -1))
        high = bisect.bisect_right(starts, (entry.start + rule.within_us, len(survivors)))
        best: tuple[float, Piece, dict[str, Any]] | None = None
        for _, position in starts[low:high]:
            survivor = survivors[position]
            if survivor.entry.sample.source == entry.sample.source:
                continue
            gap = abs(entry.start - survivor.start)
            evidence: dict[str, Any] = {"time_delta_s": (entry.start - survivor.start) / 1_000_000}
            closeness = _values_agree(rule, entry.sample.payload, survivor.entry.sample.payload, evidence)
            if closeness is None:
                continue
            parts = [1 - gap / rule.within_us if rule.within_us else 1.0, *closeness]
            score = round(sum(parts) / len(parts), 4)
            if best is None or score > best[0]:
                best = (score, survivor, evidence)
        if best is not None:
            best[1].links.append(Link(entry.sample, "duplicate", best[0], best[2]))
        else:
            bisect.insort(starts, (entry.start, len(survivors)))
            survivors.append(Piece(entry, entry.start, entry.end))
    return survivors
