"""One user's samples as chart series: what the Samples page plots and lists.

Series are built from the store's own page reader (the one `GET /v1/users/{id}/samples` uses), so
the plotted values are the API's values: x is the sample's UTC instant in epoch seconds, y its
value in the catalogue's unit. Sleep stages become a stepped hypnogram (one level per stage,
ended at the stage's end); steps are summed per local day (the sample's `local_date`, computed
with the user's zone). Each point carries the index of a provenance label (source, resource,
vendor record, channel), shared by the points of one record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from engine.engine import Engine
from engine.store.port import StoredSample

PAGE = 1000
MAX_POINTS = 200_000
TABLE_ROWS = 200


@dataclass(frozen=True, slots=True)
class Chart:
    sample_type: str
    title: str
    field: str
    unit: str
    kind: str  # line | points | hypnogram | bars


CHARTS = {chart.sample_type: chart for chart in (
    Chart("heart_rate", "Heart rate", "bpm", "bpm", "line"),
    Chart("hrv_rmssd", "Heart rate variability (RMSSD)", "rmssd_ms", "ms", "points"),
    Chart("sleep_stage", "Sleep stages", "stage", "stage", "hypnogram"),
    Chart("steps", "Steps per day", "count", "steps", "bars"),
    Chart("glucose", "Glucose", "mg_dl", "mg/dL", "line"),
)}
STAGE_LEVELS = {"deep": 1, "light": 2, "asleep": 2, "rem": 3, "awake": 4, "unknown": 0}
RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30),
          "90d": timedelta(days=90), "1y": timedelta(days=365)}
DEFAULT_RANGE = "7d"


@dataclass
class Series:
    x: list[float]
    y: list[float | None]
    provenance: list[int]
    labels: list[str]
    rows: list[dict[str, Any]]
    count: int
    truncated: bool

    def as_json(self) -> str:
        """For a `<script type="application/json">` element: nothing in it can end the element."""
        text = json.dumps({"x": self.x, "y": self.y, "p": self.provenance, "labels": self.labels},
                          separators=(",", ":"))
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _epoch(moment: datetime) -> float:
    return round(moment.timestamp(), 3)


def _label(sample: StoredSample) -> str:
    parts = [sample.source, sample.resource or "?"]
    if sample.vendor_record_id:
        parts.append(f"record {sample.vendor_record_id}")
    if sample.provenance is not None and sample.provenance.channel:
        parts.append(f"via {sample.provenance.channel}")
    return " · ".join(parts)


def _local(sample: StoredSample) -> str:
    offset = sample.payload.get("tz_offset_min")
    if not isinstance(offset, int | float):
        return "—"
    local = sample.timestamp_utc + timedelta(minutes=offset)
    sign = "+" if offset >= 0 else "-"
    return f"{local:%Y-%m-%d %H:%M} ({sign}{int(abs(offset)) // 60:02d}:{int(abs(offset)) % 60:02d})"


async def read_samples(engine: Engine, user_id: str, sample_type: str, since: datetime | None,
                       until: datetime | None) -> tuple[list[StoredSample], bool]:
    samples: list[StoredSample] = []
    cursor: str | None = None
    while True:
        page = await engine.store.list_samples(user_id, sample_types=[sample_type], since=since, until=until,
                                               include_deleted=False, limit=PAGE, cursor=cursor)
        samples.extend(page.samples)
        if page.next_cursor is None:
            return samples, False
        if len(samples) >= MAX_POINTS:
            return samples, True
        cursor = page.next_cursor


def build_series(chart: Chart, samples: list[StoredSample]) -> Series:
    labels: dict[str, int] = {}
    xs: list[float] = []
    ys: list[float | None] = []
    marks: list[int] = []

    def add(x: float, y: float | None, sample: StoredSample) -> None:
        xs.append(x)
        ys.append(y)
        marks.append(labels.setdefault(_label(sample), len(labels)))

    if chart.kind == "bars":
        per_day: dict[str, float] = {}
        first: dict[str, StoredSample] = {}
        for sample in samples:
            day = str(sample.payload.get("local_date") or sample.timestamp_utc.date().isoformat())
            per_day[day] = per_day.get(day, 0.0) + float(sample.payload.get(chart.field) or 0)
            first.setdefault(day, sample)
        for day in sorted(per_day):
            midnight = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC)
            add(_epoch(midnight), per_day[day], first[day])
    elif chart.kind == "hypnogram":
        for index, sample in enumerate(samples):
            level = float(STAGE_LEVELS.get(str(sample.payload.get("stage")), 0))
            add(_epoch(sample.timestamp_utc), level, sample)
            end = sample.end_utc or sample.timestamp_utc
            following = samples[index + 1].timestamp_utc if index + 1 < len(samples) else None
            if following is None or following > end:
                add(_epoch(end), level, sample)  # the stage lasts until its end
                if following is not None:
                    add(_epoch(end) + 0.001, None, sample)  # and the night ends there
    else:
        for sample in samples:
            value = sample.payload.get(chart.field)
            add(_epoch(sample.timestamp_utc), float(value) if isinstance(value, int | float) else None, sample)
    rows = [{"utc": f"{s.timestamp_utc.astimezone(UTC):%Y-%m-%d %H:%M:%S}", "local": _local(s),
             "value": s.payload.get(chart.field), "provenance": _label(s)} for s in samples[-TABLE_ROWS:]]
    return Series(xs, ys, marks, list(labels), rows, len(samples), False)


def sample_range(now: float, name: str) -> tuple[datetime | None, datetime]:
    until = datetime.fromtimestamp(now, UTC)
    return until - RANGES[name], until
