"""The naive declarative mapper: the same spec, but every field read is ``jmespath.search(text, ...)``.

This is how a first declarative engine usually looks: walk the spec's fields per record and hand
each expression string to the JMESPath library (which caches parses, so nothing is re-parsed; the
cost measured is the interpreter). Conversions reuse the engine's generic converters (those of
its closure path), so it produces the same samples; the compiled mapper differs in how fields are
read and in what it specializes at compile time (inlined checks, timestamp text read off
canonical input).
"""

from __future__ import annotations

from typing import Any

import jmespath

from engine.mapping.dedup import dedup_key
from engine.mapping.timefmt import local_date as local_day
from engine.mapping.timefmt import localize, rfc3339_utc, time_parser, zone_parser
from engine.mapping.values import MISSING, Rejected, value_converter
from engine.spec.catalogue import CATALOGUE
from engine.spec.functions import OPTIONS
from engine.spec.model import Resource, Spec


def _search(text: str | None, data: Any) -> Any:
    return None if text is None else jmespath.search(text, data, options=OPTIONS)


def _text(expr: Any) -> str | None:
    return expr.text if expr is not None else None


class NaiveMapper:
    def __init__(self, spec: Spec, resource: Resource) -> None:
        self.source = spec.id
        self.resource = resource.name
        self.mappings = []
        for mapping in resource.samples:
            fields = []
            for value in mapping.values:
                field = CATALOGUE.field(mapping.type, value.name)
                fields.append((value.name, _text(value.path), value.const,
                               value_converter(CATALOGUE, mapping.type, value), field.required))
            self.mappings.append({
                "type": mapping.type,
                "when": _text(mapping.when),
                "record_id": _text(mapping.record_id),
                "start": (mapping.start.path.text, time_parser(mapping.start.format)),
                "end": (mapping.end.path.text, time_parser(mapping.end.format)) if mapping.end else None,
                "tz": (mapping.tz_offset.path.text, zone_parser(mapping.tz_offset.format))
                if mapping.tz_offset else None,
                "updated": (mapping.updated_at.path.text, time_parser(mapping.updated_at.format))
                if mapping.updated_at else None,
                "device": _text(mapping.device),
                "meta": [(name, expr.text) for name, expr in mapping.meta],
                "fields": fields,
            })

    def map_records(self, records: list, user_id: str) -> list[dict]:
        samples: list[dict] = []
        for record in records:
            for mapping in self.mappings:
                sample = self._one(mapping, record, user_id)
                if sample is not None:
                    samples.append(sample)
        return samples

    def _one(self, m: dict, record: Any, user_id: str) -> dict | None:
        if m["when"] is not None and _search(m["when"], record) in (None, False):
            return None
        raw_id = _search(m["record_id"], record)
        record_id = None if raw_id is None or isinstance(raw_id, bool) else str(raw_id)
        path, parse = m["start"]
        raw = _search(path, record)
        start = parse(raw) if raw is not None else None
        if start is None:
            return None
        zone = None
        if m["tz"] is not None:
            raw_zone = _search(m["tz"][0], record)
            zone = m["tz"][1](raw_zone) if raw_zone is not None else None
        start_utc, offset = localize(start, zone)
        sample = {"user_id": user_id, "source": self.source, "sample_type": m["type"],
                  "timestamp_utc": rfc3339_utc(start_utc)}
        if m["end"] is not None:
            raw = _search(m["end"][0], record)
            end = m["end"][1](raw) if raw is not None else None
            if end is not None:
                end_utc = localize(end, zone)[0]
                if end_utc < start_utc:
                    return None
                sample["end_utc"] = rfc3339_utc(end_utc)
        sample["tz_offset_min"] = offset
        sample["tz_source"] = "record" if zone is not None or start.tzinfo is not None else "unknown"
        sample["local_date"] = local_day(start_utc, offset)
        for name, path, const, convert, required in m["fields"]:
            value = convert(_search(path, record) if path is not None else const)
            if value is MISSING or isinstance(value, Rejected):
                if required:
                    return None
                continue
            sample[name] = value
        sample["device"] = _search(m["device"], record)
        updated = None
        if m["updated"] is not None:
            raw = _search(m["updated"][0], record)
            moment = m["updated"][1](raw) if raw is not None else None
            updated = rfc3339_utc(localize(moment, None)[0]) if moment is not None else None
        sample["provenance"] = {"resource": self.resource, "vendor_record_id": record_id,
                                "vendor_updated_at": updated}
        sample["deleted"] = False
        meta = {}
        for name, path in m["meta"]:
            value = _search(path, record)
            if value is not None:
                meta[name] = value
        sample["meta"] = meta
        sample["dedup_key"] = dedup_key(user_id, self.source, self.resource, m["type"], record_id,
                                        sample["timestamp_utc"], False)
        return sample
