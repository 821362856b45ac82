"""One sample mapping compiled into per-record callables: `SampleMapper`.

Everything that depends only on the spec (unit factors, time and zone parsers, range bounds,
which fields are required) is resolved in the constructor; the per-record path only runs
compiled expressions and the precomputed closures. `engine.mapping.codegen` reads the same
compiled parts to generate a resource's fast loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from engine.mapping.dedup import dedup_key
from engine.mapping.result import MappingError, MapResult, MapWarning, Sample
from engine.mapping.timefmt import (
    LocalZone,
    TimeParser,
    ZoneParser,
    carries_local_offset,
    local_date,
    localize,
    rfc3339_utc,
    time_parser,
    zone_parser,
)
from engine.mapping.values import MISSING, Convert, Rejected, value_converter
from engine.mapping.zones import ZoneHistory, resolve
from engine.spec.catalogue import Catalogue
from engine.spec.expr import Expr
from engine.spec.model import SampleMapping, TimeField, UnitFrom

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Reader = Callable[[Any], Any]


class _Skip(Exception):
    """Internal: this candidate produces no sample (the warning is already recorded)."""


def _reader(expr: Expr | None, const: Any = None) -> Reader:
    if expr is None:
        return lambda _context: const
    return expr.search


def _with_unit(read: Reader, read_unit: Reader) -> Reader:
    return lambda context: (read(context), read_unit(context))


def _record_id(raw: Any) -> str | None:
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, (str, int)):
        return str(raw)
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return None


class _TimeReader:
    __slots__ = ("field", "own_offset_is_local", "parse", "read", "text")

    def __init__(self, field: TimeField) -> None:
        self.field = field
        self.read: Reader = field.path.search
        self.parse: TimeParser = time_parser(field.format, utc=field.utc)
        self.text = field.path.text
        self.own_offset_is_local = carries_local_offset(field.format) and not field.utc

    def __call__(self, context: Any) -> tuple[Any, datetime | None]:
        raw = self.read(context)
        return raw, (None if raw is None else self.parse(raw))


class _FieldPlan:
    __slots__ = ("convert", "name", "read", "required")

    def __init__(self, name: str, read: Reader, convert: Convert, required: bool) -> None:
        self.name = name
        self.read = read
        self.convert = convert
        self.required = required


class SampleMapper:
    """One compiled ``SampleMapping``: a record in, zero or more samples out."""

    __slots__ = (
        "_device",
        "_each",
        "_end",
        "_fields",
        "_local_date",
        "_meta",
        "_record_id",
        "_spec",
        "_start",
        "_updated",
        "_when",
        "_zone_parse",
        "_zone_read",
        "resource",
        "sample_type",
        "source",
    )

    def __init__(self, source: str, resource: str, mapping: SampleMapping, catalogue: Catalogue) -> None:
        sample_type = catalogue.sample_type(mapping.type)
        if sample_type is None:
            raise MappingError(f"unknown sample type {mapping.type!r}")
        if mapping.start is None:
            raise MappingError(f"{resource}/{mapping.type}: a sample mapping needs start or timestamp")
        self.source = source
        self.resource = resource
        self.sample_type = mapping.type
        self._spec = mapping
        self._each = mapping.each.search if mapping.each is not None else None
        self._when = mapping.when.search if mapping.when is not None else None
        self._record_id = mapping.record_id.search if mapping.record_id is not None else None
        self._start = _TimeReader(mapping.start)
        self._end = _TimeReader(mapping.end) if mapping.end is not None else None
        self._zone_read: Reader | None = None
        self._zone_parse: ZoneParser | None = None
        if mapping.tz_offset is not None:
            self._zone_read = mapping.tz_offset.path.search
            self._zone_parse = zone_parser(mapping.tz_offset.format)
        self._local_date = mapping.local_date.search if mapping.local_date is not None else None
        self._updated = _TimeReader(mapping.updated_at) if mapping.updated_at is not None else None
        self._device = mapping.device.search if mapping.device is not None else None
        self._meta = tuple((name, expr.search) for name, expr in mapping.meta)
        plans = []
        mapped = set()
        for value in mapping.values:
            try:
                convert = value_converter(catalogue, mapping.type, value)
            except ValueError as exc:
                raise MappingError(f"{resource}/{mapping.type}.{value.name}: {exc}") from None
            field = sample_type.fields[value.name]
            read = _reader(value.path, value.const)
            if isinstance(value.unit, UnitFrom):  # the converter takes the number with its unit
                read = _with_unit(read, value.unit.path.search)
            plans.append(_FieldPlan(value.name, read, convert, field.required))
            mapped.add(value.name)
        missing = [name for name, f in sample_type.fields.items() if f.required and name not in mapped]
        if missing:
            raise MappingError(f"{resource}/{mapping.type}: required value field(s) not mapped: {', '.join(missing)}")
        self._fields = tuple(plans)

    def map_into(self, record: Any, user_id: str, result: MapResult,
                 zones: ZoneHistory | None = None) -> None:
        if self._each is None:
            self._candidate(record, record, user_id, result, zones, exploded=False)
            return
        items = self._each(record)
        if not isinstance(items, list):
            return
        for index, item in enumerate(items):
            context = {"item": item, "index": index, "record": record}
            self._candidate(context, record, user_id, result, zones, exploded=True)

    def _warn(self, result: MapResult, record_id: str | None, code: str, message: str,
              field: str | None = None) -> None:
        result.warnings.append(MapWarning(self.resource, self.sample_type, record_id, code, message, field))

    def _candidate(self, context: Any, record: Any, user_id: str, result: MapResult,
                   zones: ZoneHistory | None, *, exploded: bool) -> None:
        when = self._when
        if when is not None:
            verdict = when(context)
            if verdict is None or verdict is False:
                return
        record_id = _record_id(self._record_id(context)) if self._record_id is not None else None
        try:
            sample = self._build(context, user_id, record_id, result, exploded, zones)
        except _Skip:
            return
        except (OverflowError, ValueError) as exc:  # dates at the edge of the calendar
            self._warn(result, record_id, "time.out_of_range", str(exc))
            return
        result.samples.append(sample)

    def _zone(self, context: Any, record_id: str | None, result: MapResult) -> LocalZone | None:
        read, parse = self._zone_read, self._zone_parse  # both set, or neither
        if read is None or parse is None:
            return None
        raw = read(context)
        if raw is None:
            return None
        zone = parse(raw)
        if zone is None:
            self._warn(result, record_id, "tz.unparsable", f"time zone {raw!r:.40} ignored", "tz_offset")
        return zone

    def _build(self, context: Any, user_id: str, record_id: str | None, result: MapResult,
               exploded: bool, zones: ZoneHistory | None) -> Sample:
        raw_start, start = self._start(context)
        if start is None:
            problem = "missing" if raw_start is None else f"unparsable: {raw_start!r:.40}"
            self._warn(result, record_id, "time.start", f"start time {problem} ({self._start.text})")
            raise _Skip
        zone = self._zone(context, record_id, result)
        start_utc, offset_min, tz_source = resolve(start, zone, self._start.own_offset_is_local, zones)
        sample: Sample = {
            "user_id": user_id,
            "source": self.source,
            "sample_type": self.sample_type,
            "timestamp_utc": rfc3339_utc(start_utc),
        }
        if self._end is not None:
            raw_end, end = self._end(context)
            if end is not None:
                end_utc = resolve(end, zone, True, zones)[0]
                if end_utc < start_utc:
                    self._warn(result, record_id, "time.end_before_start",
                               f"end {raw_end!r:.40} is before start {raw_start!r:.40}")
                    raise _Skip
                sample["end_utc"] = rfc3339_utc(end_utc)
            elif raw_end is not None:
                self._warn(result, record_id, "time.end", f"end time unparsable: {raw_end!r:.40}")
        sample["tz_offset_min"] = offset_min
        sample["tz_source"] = tz_source
        sample["local_date"] = self._day(context, start_utc, offset_min, record_id, result)
        for plan in self._fields:
            value = plan.convert(plan.read(context))
            if value is MISSING:
                if plan.required:
                    self._warn(result, record_id, "value.required_missing",
                               "required value is missing; no sample", plan.name)
                    raise _Skip
                continue
            if isinstance(value, Rejected):
                if plan.required:
                    self._warn(result, record_id, "value.rejected",
                               f"{value.reason}; required, so no sample", plan.name)
                    raise _Skip
                self._warn(result, record_id, "value.rejected", f"{value.reason}; field dropped", plan.name)
                continue
            sample[plan.name] = value
        sample["device"] = self._device(context) if self._device is not None else None
        sample["provenance"] = {
            "resource": self.resource,
            "vendor_record_id": record_id,
            "vendor_updated_at": self._updated_at(context, record_id, result),
        }
        sample["deleted"] = False
        meta = {}
        for name, read in self._meta:
            value = read(context)
            if value is not None:
                meta[name] = value
        sample["meta"] = meta
        sample["dedup_key"] = dedup_key(user_id, self.source, self.resource, self.sample_type,
                                        record_id, sample["timestamp_utc"], exploded)
        return sample

    def _day(self, context: Any, start_utc: datetime, offset_min: int | None,
             record_id: str | None, result: MapResult) -> str:
        if self._local_date is not None:
            day = self._local_date(context)
            if isinstance(day, str) and _DAY.match(day):
                return day
            if day is not None:
                self._warn(result, record_id, "time.local_date",
                           f"local date {day!r:.40} is not YYYY-MM-DD; using the start's local date")
        return local_date(start_utc, offset_min)

    def _updated_at(self, context: Any, record_id: str | None, result: MapResult) -> str | None:
        if self._updated is None:
            return None
        raw, moment = self._updated(context)
        if moment is None:
            if raw is not None:
                self._warn(result, record_id, "time.updated_at", f"updated_at unparsable: {raw!r:.40}")
            return None
        return rfc3339_utc(localize(moment, None)[0])
