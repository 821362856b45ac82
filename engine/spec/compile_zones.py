"""Compiling what a spec says about time and record truth: the connection's zone sources
(`time_zone`), local wall-clock times, record identity from chosen fields, and a retired vendor.

The rule this pass enforces: a sample mapping that reads a local time (no offset, no Z) must have
a zone for it, from the record (`tz_offset`) or from the connection (`time_zone`); otherwise the
samples would silently be stored as if the user lived at UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from engine.spec import model as m
from engine.spec.compile_base import CompilerBase, Path
from engine.spec.expr import Expr

LOCAL_FUNCTIONS = ("date_time(",)  # functions whose result is a wall-clock time without offset
_ZONE_FORMATS = ("offset", "seconds", "minutes", "milliseconds", "iana")


def time_is_local(field: m.TimeField) -> bool:
    """Whether a time field yields wall-clock times of day without an offset (known from the
    spec). A date alone names a day, not a time: it is exempt (its samples still take the
    connection's zone when there is one)."""
    if field.local:
        return True
    if field.utc or field.format == "date":
        return False
    if "%" in field.format:
        return "%z" not in field.format and "%Z" not in field.format
    return any(name in field.path.text for name in LOCAL_FUNCTIONS)


def mapping_local_times(mapping: m.SampleMapping) -> list[str]:
    """The time fields of a mapping ("start", "end") that are local by the spec."""
    return [name for name, field in (("start", mapping.start), ("end", mapping.end))
            if field is not None and time_is_local(field)]


def identity_expression(fields: tuple[str, ...]) -> str:
    """JMESPath for a record identity from the values of ``fields`` (validated dotted names):
    ``a:b`` when every field has a value, else null (the sample then keys on its start)."""
    present = " && ".join(f"{f} != null" for f in fields)
    parts = ", ".join(f"to_string({f})" for f in fields)
    return f"({present}) && join(':', [{parts}]) || null"


class ZonesCompiler(CompilerBase):
    def time_zone(self, raw: list[Mapping[str, Any]] | None,
                  resources: Mapping[str, Any]) -> tuple[m.ZoneSource, ...]:
        if not raw:
            return ()
        sources = []
        for index, item in enumerate(raw):
            at: Path = ("time_zone", index)
            kind = item["from"]
            fmt = item.get("format", "iana")
            path = self.expr(item.get("path"), at + ("path",))
            if kind in ("identity", "records") and path is None and "path" not in item:
                self.issue(at, "time_zone.path", f"a zone from {kind} needs `path`: where the zone is")
            if kind == "app" and any(k in item for k in ("path", "request", "resource", "at")):
                self.issue(at, "time_zone.app", "a zone from the app takes only `from: app`")
            if kind != "identity" and "request" in item:
                self.issue(at + ("request",), "time_zone.request", "only a zone from identity reads a request")
            at_field = None
            resource = item.get("resource")
            if kind == "records":
                if resource not in resources:
                    self.issue(at + ("resource",), "time_zone.resource",
                               f"a zone from records needs the `resource` that carries it; "
                               f"{resource!r} is not one of this spec's resources")
                if "at" not in item:
                    self.issue(at, "time_zone.at", "a zone from records needs `at`: the record's time")
                at_field = self.time_field(item.get("at"), at + ("at",))
            elif "resource" in item or "at" in item:
                self.issue(at, "time_zone.records_only", "`resource` and `at` are for a zone from records")
            request = self.request(item["request"], at + ("request",)) if "request" in item else None
            if fmt not in _ZONE_FORMATS:
                self.issue(at + ("format",), "time_zone.format", f"unknown zone format {fmt!r}")
            sources.append(m.ZoneSource(kind=kind, path=path, format=fmt, request=request,
                                        resource=resource, at=at_field))
        return tuple(sources)

    def time_field(self, raw: Any, at: Path) -> m.TimeField | None:
        if raw is None:
            return None
        path, fmt = (raw, "iso") if isinstance(raw, str) else (raw["path"], raw.get("format", "iso"))
        expr = self.expr(path, at if isinstance(raw, str) else at + ("path",))
        if fmt not in ("iso", "epoch_s", "epoch_ms", "date") and "%" not in fmt:
            self.issue(at, "time.format",
                       f"unknown time format {fmt!r}; use iso, epoch_s, epoch_ms, date or a strftime pattern")
        local = bool(raw.get("local", False)) if isinstance(raw, Mapping) else False
        utc = bool(raw.get("utc", False)) if isinstance(raw, Mapping) else False
        if local and fmt in ("epoch_s", "epoch_ms"):
            self.issue(at + ("local",), "time.local_epoch", "an epoch time is an instant, never local")
        if local and utc:
            self.issue(at + ("utc",), "time.local_utc", "a time is local or UTC, not both")
        return m.TimeField(path=expr, format=fmt, local=local, utc=utc) if expr else None

    def identity(self, raw: Mapping[str, Any], at: Path) -> tuple[Expr | None, tuple[str, ...], Expr | None]:
        """(record id expression, identity fields, superseded id) of a sample mapping."""
        ident = raw.get("identity")
        if ident is None:
            return self.expr(raw.get("record_id"), at + ("record_id",)), (), None
        if raw.get("record_id") is not None:
            self.issue(at + ("record_id",), "identity.twice",
                       "give record_id or identity, not both (identity replaces the vendor's id)")
        fields = tuple(ident["fields"])
        expr = self.expr(identity_expression(fields), at + ("identity", "fields"))
        return expr, fields, self.expr(ident.get("supersedes"), at + ("identity", "supersedes"))

    def check_zones(self, resources: Mapping[str, m.Resource], zones: tuple[m.ZoneSource, ...]) -> None:
        if zones:
            return
        for name, resource in resources.items():
            for index, mapping in enumerate(resource.samples):
                if mapping.tz_offset is not None:
                    continue
                for which in mapping_local_times(mapping):
                    key = which if which == "end" else self._start_key(name, index)
                    self.issue(("resources", name, "samples", index, key), "time.no_zone",
                               f"{name}/{mapping.type}: {which} is a local time (no offset) and nothing "
                               "says its zone: give the mapping a tz_offset, or the spec a time_zone "
                               "(identity, records or app)")

    def _start_key(self, resource: str, index: int) -> str:
        raw = self.raw_spec.get("resources", {}).get(resource, {}).get("samples", [])
        sample = raw[index] if index < len(raw) else {}
        return "start" if "start" in sample and sample["start"] is not None else "timestamp"

    def lifecycle(self, raw: Mapping[str, Any]) -> tuple[Literal["active", "retired"], m.Retirement | None]:
        status: Literal["active", "retired"] = "retired" if raw.get("status") == "retired" else "active"
        info = raw.get("retired")
        if status == "retired" and not info:
            self.issue(("status",), "status.retired", "a retired vendor needs `retired` with its "
                       "dates and successor")
        if status != "retired" and info:
            self.issue(("retired",), "status.not_retired", "`retired` needs `status: retired`")
        if not info:
            return status, None
        successor = info.get("successor")
        if successor == raw.get("id"):
            self.issue(("retired", "successor"), "status.successor", "a vendor cannot succeed itself")
        return status, m.Retirement(support_ended=info.get("support_ended"),
                                    turned_off=info.get("turned_off"), successor=successor,
                                    note=info.get("note", ""))
