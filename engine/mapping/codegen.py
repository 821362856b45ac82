"""Generate one Python function per resource mapping: the fast path for well-formed records.

The generated loop builds exactly the samples the `SampleMapper` closures build, for records
where nothing is unusual. Whatever would produce a mapping warning (a missing start, a rejected
value, an unparsable time...) or raise, makes it drop that record's partial samples and hand the
record to the closure path, which then produces the samples, warnings and errors it always did.
So every inlined shortcut below only has to be exact on the records it accepts; anything it is
unsure of raises and falls back.

Only names and literals taken from the validated spec are embedded, via ``repr``; expressions
come from `engine.spec.expr_python`, which builds source from parsed JMESPath trees.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from engine.mapping.dedup import _escape
from engine.mapping.sample_mapper import _DAY, SampleMapper, _record_id
from engine.mapping.timefmt import canonical_utc_text, local_date, localize, rfc3339_utc
from engine.mapping.values import (
    MISSING,
    BooleanRule,
    NumberRule,
    Rejected,
    StringRule,
    converter_rule,
)
from engine.mapping.zones import resolve
from engine.spec.expr import Expr
from engine.spec.expr_python import HELPERS, Translator
from engine.spec.model import UnitFrom

FastMap = Callable[[Iterable[Any], str, list, Callable[[Any], None], Any], None]

_UNSET = object()  # a per-record shared value not computed yet
_EMPTY: dict = {}  # read-only stand-in for a path step that is not an object
_ZONE_CACHE_SIZE = 1024


class _Fallback(Exception):
    """This record needs the closure path."""


def _zone_entry(parse: Callable[[Any], Any], raw: Any, cache: dict) -> tuple[Any, int | None, timedelta | None]:
    """(zone, its offset in minutes, that offset as a timedelta); the last two only for fixed zones.

    Text zones are cached: vendors send a handful of distinct offsets or zone names.
    """
    zone = parse(raw)
    if zone is None:
        raise _Fallback
    minutes = delta = None
    if isinstance(zone, timezone):
        minutes = int(zone.utcoffset(None).total_seconds() // 60)  # as `localize` computes it
        delta = timedelta(minutes=minutes)
    entry = (zone, minutes, delta)
    if raw.__class__ is str and len(cache) < _ZONE_CACHE_SIZE:
        cache[raw] = entry
    return entry


def _local_day(utc: datetime, minutes: int, delta: timedelta | None) -> str:
    """`local_date` when the offset moves the UTC time across midnight."""
    return (utc + (delta if delta is not None else timedelta(minutes=minutes))).date().isoformat()


class _Source:
    """Collects the generated lines. Values several mappings of a record share (dotted reads,
    parsed times and zones, UTC conversions, their text) are computed once per record: dotted
    reads eagerly in a prelude (they cannot fail), the rest lazily behind a sentinel."""

    def __init__(self) -> None:
        self.prelude: list[str] = []
        self.lines: list[str] = []
        self.setup: list[str] = []  # once per call, before the loop
        self.names: dict[str, Any] = {}
        self.paths: dict[tuple[str, ...], str] = {}
        self.views: dict[str, str] = {}
        self.lazies: dict[Any, str] = {}
        self.uses: dict[Any, int] = {}
        self.translator = Translator(self._known_path)

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def bind(self, prefix: str, value: Any) -> str:
        name = f"_{prefix}{len(self.names)}"
        self.names[name] = value
        return name

    def path(self, keys: tuple[str, ...]) -> str:
        """A local holding the dotted path ``keys`` read from the record."""
        name = self.paths.get(keys)
        if name is None:
            if len(keys) == 1:
                source = f"rec.get({keys[0]!r})"
            else:
                source = f"{self._view(self.path(keys[:-1]))}.get({keys[-1]!r})"
            name = self.paths[keys] = f"p{len(self.paths)}"
            self.prelude.append(f"        {name} = {source}")
        return name

    def _view(self, parent: str) -> str:
        """The parent as an object to read keys from: itself, or an empty one when not an object."""
        view = self.views.get(parent)
        if view is None:
            view = self.views[parent] = f"o{len(self.views)}"
            self.prelude.append(f"        {view} = {parent} if _isinstance({parent}, _dict) else _EMPTY")
        return view

    def _known_path(self, value: str, keys: tuple[str, ...]) -> str | None:
        return self.path(keys) if value == "rec" else None

    def lazy(self, key: Any, count: int = 1) -> list[str]:
        """The locals for ``key``, reset to the not-computed sentinel at the top of each record.

        Every use site emits the (guarded) computation: the first mapping to need it may be
        skipped by its ``when``."""
        self.uses[key] = self.uses.get(key, 0) + 1
        known = self.lazies.get(key)
        if known is not None:
            return known.split(",")
        first = len(self.lazies)
        names = [f"v{first}"] + [f"v{first}_{i}" for i in range(1, count)]
        self.lazies[key] = ",".join(names)
        self.prelude.append(f"        {names[0]} = _U")
        return names

    def read(self, expr: Expr | None) -> str:
        """A Python expression for reading ``expr`` from the record."""
        if expr is None:
            return "None"
        if expr.keys is not None:
            return self.path(expr.keys)
        tree = expr.tree
        translated = self.translator.translate(tree, "rec") if tree is not None else None
        if translated is not None:
            return translated
        return f"{self.bind('x', expr.search)}(rec)"

    def time(self, depth: int, field: Any, parse: Any, fmt: str) -> str:
        """Local of a parsed time; falls back when missing or unparsable (a warning case)."""
        raw = self.read(field.path)
        (name,) = self.lazy(("time", field.path.text, fmt, field.utc))
        if fmt == "iso" and not field.utc:
            # fromisoformat reads the trailing Z itself; None, other types and any text it
            # rejects raise, and the closure path then does the full parse and warning.
            self.emit(depth, f"if {name} is _U: {name} = _fromiso({raw})")
        else:
            self.emit(depth, f"if {name} is _U: {name} = {self.bind('tp', parse)}({raw}) "
                             f"if {raw} is not None else None")
            self.emit(depth, f"if {name} is None: raise _FB")
        return name

    def zone(self, depth: int, mapper: SampleMapper) -> tuple[str, str, str]:
        """Locals of the record's zone, its fixed offset in minutes and as a timedelta."""
        spec = mapper._spec
        if spec.tz_offset is None:
            return "None", "None", "None"
        raw = self.read(spec.tz_offset.path)
        (zone, minutes, delta) = self.lazy(("zone", spec.tz_offset.path.text, spec.tz_offset.format), 3)
        cache = self.bind("zc", {})
        self.emit(depth, f"if {zone} is _U:")
        self.emit(depth + 1, f"_z = {raw}")
        self.emit(depth + 1, f"if _z is None: {zone} = {minutes} = {delta} = None")
        self.emit(depth + 1, f"else: {zone}, {minutes}, {delta} = {cache}.get(_z) or "
                             f"_zone_entry({self.bind('zp', mapper._zone_parse)}, _z, {cache})")
        return zone, minutes, delta

    def instant(self, depth: int, moment: str, raw: str, zone: tuple[str, str, str], own: bool
                ) -> tuple[str, str, str, str, str]:
        """Locals of the UTC moment, local offset minutes, its timedelta, the UTC text and the
        sample's tz_source.

        ``raw`` is the moment's source text when it was parsed as ISO text, else "None".
        """
        z, zmin, zdelta = zone
        (utc, minutes, delta, text, source) = self.lazy(("instant", moment, z, own), 5)
        self.emit(depth, f"if {utc} is _U:")
        # A moment already in UTC keeps its instant; with a fixed zone (or none) its offset is
        # known without converting. An instant whose offset is not local (an epoch) takes the
        # connection's zone when there is one: `_resolve` does that.
        own_minutes = "0" if own else "None"
        own_source = "'record'" if own else "'unknown'"
        no_zone_ok = "" if own else " and zones is None"
        if z == "None":
            self.emit(depth + 1, f"if {moment}.tzinfo is _UTC{no_zone_ok}:")
            self.emit(depth + 2, f"{utc} = {moment}; {minutes} = {own_minutes}; {delta} = None; "
                                 f"{source} = {own_source}")
        else:
            alone = f"{z} is None" if own else f"({z} is None and zones is None)"
            self.emit(depth + 1, f"if {moment}.tzinfo is _UTC and ({alone} or {zmin} is not None):")
            self.emit(depth + 2, f"{utc} = {moment}")
            self.emit(depth + 2, f"if {z} is None: {minutes} = {own_minutes}; {delta} = None; "
                                 f"{source} = {own_source}")
            self.emit(depth + 2, f"else: {minutes} = {zmin}; {delta} = {zdelta}; {source} = 'record'")
        if raw == "None":
            self.emit(depth + 2, f"{text} = _rfc({utc})")
        else:
            self._canonical_text(depth + 2, raw, utc, text)
        self.emit(depth + 1, "else:")
        self.emit(depth + 2, f"{utc}, {minutes}, {source} = _resolve({moment}, {z}, {own!r}, zones); "
                             f"{delta} = None")
        self.emit(depth + 2, f"{text} = _rfc({utc})")
        return utc, minutes, delta, text, source

    def _canonical_text(self, depth: int, raw: str, utc: str, text: str) -> None:
        """`canonical_utc_text` (its commonest forms inlined), else formatting: ``raw`` is text
        fromisoformat read as a UTC moment."""
        self.emit(depth, f"_c = {raw}; _n = len(_c)")
        self.emit(depth, "_b = _n - 1 if _c[-1] == 'Z' else _n - 6 if _c[-6:] == '+00:00' else 0")
        self.emit(depth, "if (_b == 19 or (_b == 23 and _c[19] == '.')) and _c[4] == '-' "
                         "and _c[7] == '-' and _c[10] == 'T' and _c[13] == ':' and _c[16] == ':':")
        self.emit(depth + 1, f"{text} = (_c if _b == _n - 1 else _c[:_b] + 'Z') "
                             "if _b == 19 or _c[20:23] != '000' else _c[:19] + 'Z'")
        self.emit(depth, f"else: {text} = _canon(_c) or _rfc({utc})")

    def day(self, depth: int, utc: str, minutes: str, delta: str, text: str) -> str:
        """Local of the local date: the UTC text's date unless the offset crosses midnight."""
        (day,) = self.lazy(("day", utc))
        self.emit(depth, f"if {day} is _U:")
        self.emit(depth + 1, f"if not {minutes} or 0 <= {utc}.hour * 60 + {utc}.minute + {minutes} < 1440: "
                             f"{day} = {text}[:10]")
        self.emit(depth + 1, f"else: {day} = _local_day({utc}, {minutes}, {delta})")
        return day

    def call(self, depth: int, key: Any, source: str) -> str:
        (name,) = self.lazy(key)
        self.emit(depth, f"if {name} is _U: {name} = {source}")
        return name

    def record_id(self, depth: int, expr: Expr | None) -> tuple[str, str]:
        """Locals of the record id and its escaped form (None without one)."""
        if expr is None:
            return "None", "None"
        raw = self.read(expr)
        (rid, escaped) = self.lazy(("rid", expr.text), 2)
        self.emit(depth, f"if {rid} is _U:")
        self.emit(depth + 1, f"_x = {raw}")
        self.emit(depth + 1, f"{rid} = _x if _x.__class__ is _str else _rid(_x)")
        self.emit(depth + 1, f"{escaped} = None if {rid} is None else {rid} "
                             f"if '%' not in {rid} and '|' not in {rid} else _esc({rid})")
        return rid, escaped


def _convert(src: _Source, depth: int, convert: Any, raw: str, required: bool, target: str) -> None:
    """Emit: read ``raw``, convert it into the local ``target`` (``_M`` when absent and optional).

    Anything the converter would reject falls back (it is a warning there).
    """
    rule = converter_rule(convert)
    src.emit(depth, f"_r = {raw}")
    if required:
        src.emit(depth, "if _r is None: raise _FB")
        src.emit(depth, "if True:")
    else:
        src.emit(depth, f"if _r is None: {target} = _M")
        src.emit(depth, "else:")
    d = depth + 1
    if isinstance(rule, NumberRule):
        _number(src, d, rule)
    elif isinstance(rule, StringRule):
        src.emit(d, "if _r.__class__ is not _str: raise _FB")
        if rule.allowed is not None:
            src.emit(d, f"if _r not in {src.bind('enum', rule.allowed)}: raise _FB")
        src.emit(d, "_v = _r")
    elif isinstance(rule, BooleanRule):
        src.emit(d, "if _r is not True and _r is not False: raise _FB")
        src.emit(d, "_v = _r")
    else:
        src.emit(d, f"_v = {src.bind('cv', convert)}(_r)")
        src.emit(d, "if _v is _M or _v.__class__ is _Rejected: raise _FB")
    src.emit(d, f"{target} = _v")


def _number(src: _Source, d: int, rule: NumberRule) -> None:
    """The number converter inlined for exact ints and floats (anything else falls back)."""
    factor, offset = rule.factor, rule.offset
    floats = isinstance(factor, float) and isinstance(offset, float)
    bounded = all(isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b)
                  for b in (rule.low, rule.high))

    def tidy(depth: int, value: str) -> None:
        src.emit(depth, f"_v = {value}")
        if not bounded:  # with both bounds the range check below also rules out inf and nan
            src.emit(depth, "if not _isfinite(_v): raise _FB")
        src.emit(depth, "_v = _round(_v, 6)")
        src.emit(depth, "if _v.is_integer(): _v = _int(_v)")

    if rule.identity:
        scaled = "_r"
    elif floats and offset == 0.0:
        scaled = f"_r * {factor!r}"  # + 0.0 only turns -0.0 into 0.0, which tidying does anyway
    else:
        scaled = f"_r * {factor!r} + {offset!r}"
    src.emit(d, "if _r.__class__ is _int:")
    if rule.identity:
        src.emit(d + 1, "_v = _r")
    elif floats:
        tidy(d + 1, scaled)
    else:
        src.emit(d + 1, f"_v = {scaled}")
        src.emit(d + 1, "if _v.__class__ is not _int: raise _FB")
    src.emit(d, "elif _r.__class__ is _float:")
    tidy(d + 1, scaled)
    src.emit(d, "else: raise _FB")
    # Written as `not (in range)` so that nan is out of range too.
    if rule.low is not None and rule.high is not None:
        src.emit(d, f"if not ({rule.low!r} <= _v <= {rule.high!r}): raise _FB")
    elif rule.low is not None:
        src.emit(d, f"if not (_v >= {rule.low!r}): raise _FB")
    elif rule.high is not None:
        src.emit(d, f"if not (_v <= {rule.high!r}): raise _FB")


def _mapper(src: _Source, mapper: SampleMapper) -> None:
    d = 2
    spec = mapper._spec
    if spec.when is not None:
        src.emit(d, f"_w = {src.read(spec.when)}")
        src.emit(d, "if _w is not None and _w is not False:")
    else:
        src.emit(d, "if True:")
    d += 1
    rid, rid_key = src.record_id(d, spec.record_id)
    zone = src.zone(d, mapper)
    start_reader = mapper._start
    start_field = start_reader.field
    start_raw = src.read(start_field.path) if start_field.format == "iso" else "None"
    start = src.time(d, start_field, start_reader.parse, start_field.format)
    utc, minutes, delta, ts, tz_source = src.instant(d, start, start_raw, zone,
                                                     start_reader.own_offset_is_local)

    # Every value is computed into a local first, then the sample is one dict literal in the
    # closure path's key order; optional entries that turned out absent (``_M``) are deleted,
    # which keeps the order of the others.
    entries = [("user_id", "user_id"), ("source", repr(mapper.source)),
               ("sample_type", repr(mapper.sample_type)), ("timestamp_utc", ts)]
    optional: list[tuple[str, str]] = []
    tag = f"{len(src.setup)}_"  # keeps this mapping's locals apart from the next one's

    end_reader = mapper._end  # None exactly when the mapping has no end
    if end_reader is not None:
        end_field = end_reader.field
        end_raw = src.read(end_field.path)
        end_text = f"e{tag}"
        src.emit(d, f"if {end_raw} is None: {end_text} = _M")
        src.emit(d, "else:")
        moment = src.time(d + 1, end_field, end_reader.parse, end_field.format)
        text = end_raw if end_field.format == "iso" else "None"
        end_utc, _, _, end_value, _ = src.instant(d + 1, moment, text, zone, True)
        src.emit(d + 1, f"if {end_utc} < {utc}: raise _FB")
        src.emit(d + 1, f"{end_text} = {end_value}")
        entries.append(("end_utc", end_text))
        optional.append(("end_utc", end_text))
    entries.append(("tz_offset_min", minutes))
    entries.append(("tz_source", tz_source))
    if spec.local_date is not None:
        day = f"ld{tag}"
        src.emit(d, f"{day} = {src.read(spec.local_date)}")
        src.emit(d, f"if {day}.__class__ is not _str or not _DAY({day}): raise _FB")
    else:
        day = src.day(d, utc, minutes, delta, ts)
    entries.append(("local_date", day))
    for index, plan in enumerate(mapper._fields):
        value = _spec_value(spec, plan.name)
        if value.path is None:
            converted = plan.convert(value.const)
            if converted is MISSING or converted.__class__ is Rejected:
                if plan.required or converted is not MISSING:
                    src.emit(d, "raise _FB")
                continue
            entries.append((plan.name, src.bind("c", converted)))
            continue
        local = f"f{tag}{index}"
        _convert(src, d, plan.convert, src.read(value.path), plan.required, local)
        entries.append((plan.name, local))
        if not plan.required:
            optional.append((plan.name, local))
    entries.append(("device", src.read(spec.device)))
    updated_reader = mapper._updated  # None exactly when the mapping has no updated_at
    if updated_reader is not None:
        updated_field = updated_reader.field
        updated_raw = src.read(updated_field.path)
        (updated,) = src.lazy(("updated", updated_field.path.text, updated_field.format))
        src.emit(d, f"if {updated} is _U:")
        src.emit(d + 1, f"if {updated_raw} is None: {updated} = None")
        src.emit(d + 1, "else:")
        moment = src.time(d + 2, updated_field, updated_reader.parse, updated_field.format)
        src.emit(d + 2, f"if {moment}.tzinfo is _UTC:")
        if updated_field.format == "iso":
            src._canonical_text(d + 3, updated_raw, moment, updated)
        else:
            src.emit(d + 3, f"{updated} = _rfc({moment})")
        src.emit(d + 2, f"else: {updated} = _rfc(_localize({moment}, None)[0])")
    else:
        updated = "None"
    provenance = f"{{'resource': {mapper.resource!r}, 'vendor_record_id': {rid}, 'vendor_updated_at': {updated}}}"
    entries.append(("provenance", provenance))
    entries.append(("deleted", "False"))
    if spec.meta:
        meta = f"m{tag}"
        src.emit(d, f"{meta} = {{}}")
        for name, expr in spec.meta:
            src.emit(d, f"_r = {src.read(expr)}")
            src.emit(d, f"if _r is not None: {meta}[{name!r}] = _r")
        entries.append(("meta", meta))
    else:
        entries.append(("meta", "{}"))
    middle = "|".join(_escape(p) for p in (mapper.source, mapper.resource, mapper.sample_type)) + "|"
    prefix = f"k{len(src.setup)}"
    src.setup.append(f"    {prefix} = uk + {middle!r}")
    escaped_ts = f"({ts} if '%' not in {ts} and '|' not in {ts} else _esc({ts}))"
    identity = f"{rid_key} if {rid} is not None else {escaped_ts}" if spec.record_id is not None else escaped_ts
    entries.append(("dedup_key", f"{prefix} + ({identity})"))
    src.emit(d, "s = {" + ", ".join(f"{key!r}: {value}" for key, value in entries) + "}")
    for key, local in optional:
        src.emit(d, f"if {local} is _M: del s[{key!r}]")
    src.emit(d, "append(s)")


def _unguard(src: _Source) -> tuple[list[str], list[str]]:
    """Prelude and body without the sentinel of each lazy value computed at one place only:
    that place runs at most once per record, so its guard always holds."""
    once = {names.split(",")[0] for key, names in src.lazies.items() if src.uses[key] == 1}
    prelude = [line for line in src.prelude if line.strip().removesuffix(" = _U") not in once]
    body: list[str] = []
    removed: list[int] = []  # indentation of the enclosing block guards taken out
    for line in src.lines:
        indent = len(line) - len(line.lstrip())
        while removed and indent <= removed[-1]:
            removed.pop()
        stripped = line.strip()
        if stripped.startswith("if ") and " is _U:" in stripped:
            name, _, rest = stripped[3:].partition(" is _U:")
            if name in once:
                if rest.strip():
                    body.append(" " * (indent - 4 * len(removed)) + rest.strip())
                else:
                    removed.append(indent)
                continue
        body.append(line[4 * len(removed):])
    return prelude, body


def _spec_value(spec: Any, name: str) -> Any:
    for value in spec.values:
        if value.name == name:
            return value
    raise KeyError(name)


def generate(mappers: tuple[SampleMapper, ...]) -> FastMap | None:
    """The fast loop for these mappers, or None when one of them needs the closure path only."""
    if not mappers or any(m._spec.each is not None or any(isinstance(v.unit, UnitFrom) for v in m._spec.values)
                          for m in mappers):
        return None
    src = _Source()
    for mapper in mappers:
        _mapper(src, mapper)
    prelude, body = _unguard(src)
    # With one mapping the append is the last statement of the try: a record that fails has
    # appended nothing, so there is nothing to take back.
    several = len(mappers) > 1
    lines = [
        "def _map(records, user_id, out, slow, zones=None):",
        "    uk = _esc(user_id) + '|'",
        *src.setup,
        "    append = out.append",
        "    for rec in records:",
        *(["      mark = len(out)"] if several else []),
        "      try:",
        "        if rec.__class__ is not _dict: raise _FB",
        *prelude,
        *body,
        "      except Exception:",
        *(["          del out[mark:]"] if several else []),
        "          slow(rec)",
    ]
    namespace: dict[str, Any] = {
        **HELPERS, **src.names,
        "_FB": _Fallback, "_U": _UNSET, "_EMPTY": _EMPTY, "_M": MISSING, "_Rejected": Rejected,
        "_localize": localize, "_resolve": resolve, "_rfc": rfc3339_utc, "_ld": local_date, "_esc": _escape,
        "_fromiso": datetime.fromisoformat, "_UTC": UTC, "_zone_entry": _zone_entry,
        "_local_day": _local_day, "_canon": canonical_utc_text, "_rid": _record_id, "_DAY": _DAY.match,
        "_str": str, "_int": int, "_float": float, "_round": round, "_isfinite": math.isfinite,
    }
    source = "\n".join(lines) + "\n"
    exec(compile(source, "<mapping>", "exec"), namespace)  # noqa: S102 - built from the validated spec
    fast = namespace["_map"]
    fast.source = source  # for reading the generated code when profiling
    return fast
