"""Generate one Python function per resource mapping: the fast path for well-formed records.

The generated loop builds exactly the samples the `SampleMapper` closures build, for records
where nothing is unusual. Whatever would produce a mapping warning (a missing start, a rejected
value, an unparsable time...) or raise, makes it drop that record's partial samples and hand the
record to the closure path, which then produces the samples, warnings and errors it always did.

Only names and literals taken from the validated spec are embedded, via ``repr``; expressions
come from `engine.spec.expr_python`, which builds source from parsed JMESPath trees.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.mapping.dedup import _escape
from engine.mapping.timefmt import local_date, localize, rfc3339_utc
from engine.mapping.values import MISSING, Rejected
from engine.spec.expr import Expr
from engine.spec.expr_python import HELPERS, Translator
from engine.spec.functions import parse_iso

if TYPE_CHECKING:
    from engine.mapping.compiler import SampleMapper

FastMap = Callable[[list, str, list, Callable[[Any], None]], None]


_UNSET = object()  # a per-record shared value not computed yet


class _Fallback(Exception):
    """This record needs the closure path."""


class _Source:
    """Collects the generated lines. Values several mappings of a record share (dotted reads,
    parsed times and zones, UTC conversions, their text) are computed once per record: dotted
    reads eagerly in a prelude (they cannot fail), the rest lazily behind a sentinel."""

    def __init__(self) -> None:
        self.prelude: list[str] = []
        self.lines: list[str] = []
        self.names: dict[str, Any] = {}
        self.paths: dict[tuple[str, ...], str] = {}
        self.lazies: dict[Any, str] = {}
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
                parent = self.path(keys[:-1])
                source = f"{parent}.get({keys[-1]!r}) if _isinstance({parent}, _dict) else None"
            name = self.paths[keys] = f"p{len(self.paths)}"
            self.prelude.append(f"        {name} = {source}")
        return name

    def _known_path(self, value: str, keys: tuple[str, ...]) -> str | None:
        return self.path(keys) if value == "rec" else None

    def lazy(self, key: Any) -> tuple[str, bool]:
        """The local for ``key`` and whether it is new (its computation must be emitted)."""
        name = self.lazies.get(key)
        if name is not None:
            return name, False
        name = self.lazies[key] = f"v{len(self.lazies)}"
        self.prelude.append(f"        {name} = _U")
        return name, True

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

    def time(self, depth: int, field: Any, parse: Any) -> str:
        """Local of a parsed time; falls back when missing or unparsable (a warning case)."""
        raw = self.read(field.path)
        name, _ = self.lazy(("time", field.path.text, parse))
        self.emit(depth, f"if {name} is _U: {name} = {self.bind('tp', parse)}({raw}) "
                         f"if {raw} is not None else None")
        self.emit(depth, f"if {name} is None: raise _FB")
        return name

    def zone(self, depth: int, mapper: SampleMapper) -> str:
        spec = mapper._spec
        if spec.tz_offset is None:
            return "None"
        raw = self.read(spec.tz_offset.path)
        name, _ = self.lazy(("zone", spec.tz_offset.path.text, spec.tz_offset.format))
        self.emit(depth, f"if {name} is _U: {name} = None if {raw} is None else "
                         f"{self.bind('zp', mapper._zone_parse)}({raw})")
        self.emit(depth, f"if {name} is None and {raw} is not None: raise _FB")
        return name

    def call(self, depth: int, key: Any, source: str) -> str:
        name, _ = self.lazy(key)
        self.emit(depth, f"if {name} is _U: {name} = {source}")
        return name


def _mapper(src: _Source, mapper: SampleMapper) -> None:
    d = 2
    spec = mapper._spec
    if spec.when is not None:
        src.emit(d, f"_w = {src.read(spec.when)}")
        src.emit(d, "if _w is not None and _w is not False:")
    else:
        src.emit(d, "if True:")
    d += 1
    src.emit(d, f"rid = _rid({src.read(spec.record_id)})" if spec.record_id is not None else "rid = None")
    start = src.time(d, spec.start, mapper._start.parse)
    zone = src.zone(d, mapper)
    own = mapper._start.own_offset_is_local
    local = src.call(d, ("localize", start, zone, own), f"_localize({start}, {zone}, {own!r})")
    ts = src.call(d, ("rfc", local), f"_rfc({local}[0])")
    src.emit(d, f"s = {{'user_id': user_id, 'source': {mapper.source!r}, "
                f"'sample_type': {mapper.sample_type!r}, 'timestamp_utc': {ts}}}")
    if spec.end is not None:
        raw = src.read(spec.end.path)
        src.emit(d, f"if {raw} is not None:")
        end = src.time(d + 1, spec.end, mapper._end.parse)
        end_local = src.call(d + 1, ("localize", end, zone, True), f"_localize({end}, {zone}, True)")
        src.emit(d + 1, f"if {end_local}[0] < {local}[0]: raise _FB")
        end_text = src.call(d + 1, ("rfc", end_local), f"_rfc({end_local}[0])")
        src.emit(d + 1, f"s['end_utc'] = {end_text}")
    src.emit(d, f"s['tz_offset_min'] = {local}[1]")
    if spec.local_date is not None:
        src.emit(d, f"_r = {src.read(spec.local_date)}")
        src.emit(d, "if _r.__class__ is not str or not _DAY(_r): raise _FB")
        src.emit(d, "s['local_date'] = _r")
    else:
        day = src.call(d, ("day", local), f"_ld({local}[0], {local}[1])")
        src.emit(d, f"s['local_date'] = {day}")
    for plan in mapper._fields:
        value = spec_value(spec, plan.name)
        raw = src.read(value.path) if value.path is not None else src.bind("c", value.const)
        src.emit(d, f"_v = {src.bind('cv', plan.convert)}({raw})")
        src.emit(d, "if _v is _MISSING:")
        src.emit(d + 1, "raise _FB" if plan.required else "pass")
        src.emit(d, "elif _v.__class__ is _Rejected: raise _FB")
        src.emit(d, f"else: s[{plan.name!r}] = _v")
    src.emit(d, f"s['device'] = {src.read(spec.device)}")
    if spec.updated_at is not None:
        raw = src.read(spec.updated_at.path)
        name, _ = src.lazy(("updated", spec.updated_at.path.text, mapper._updated.parse))
        src.emit(d, f"if {name} is _U:")
        src.emit(d + 1, f"if {raw} is None: {name} = None")
        src.emit(d + 1, "else:")
        moment = src.time(d + 2, spec.updated_at, mapper._updated.parse)
        src.emit(d + 2, f"{name} = _rfc(_localize({moment}, None)[0])")
        updated = name
    else:
        updated = "None"
    src.emit(d, f"s['provenance'] = {{'resource': {mapper.resource!r}, 'vendor_record_id': rid, "
                f"'vendor_updated_at': {updated}}}")
    src.emit(d, "s['deleted'] = False")
    src.emit(d, "m = {}")
    for name, expr in spec.meta:
        src.emit(d, f"_r = {src.read(expr)}")
        src.emit(d, f"if _r is not None: m[{name!r}] = _r")
    src.emit(d, "s['meta'] = m")
    middle = "|".join(_escape(p) for p in (mapper.source, mapper.resource, mapper.sample_type)) + "|"
    src.emit(d, f"s['dedup_key'] = uk + {middle!r} + _esc(rid if rid is not None else {ts})")
    src.emit(d, "append(s)")


def spec_value(spec: Any, name: str) -> Any:
    for value in spec.values:
        if value.name == name:
            return value
    raise KeyError(name)


def generate(mappers: tuple[SampleMapper, ...]) -> FastMap | None:
    """The fast loop for these mappers, or None when one of them needs the closure path only."""
    if not mappers or any(m._spec.each is not None for m in mappers):
        return None
    src = _Source()
    for mapper in mappers:
        _mapper(src, mapper)
    lines = [
        "def _map(records, user_id, out, slow):",
        "    uk = _esc(user_id) + '|'",
        "    append = out.append",
        "    for rec in records:",
        "      mark = len(out)",
        "      try:",
        "        if rec.__class__ is not _dict: raise _FB",
        *src.prelude,
        *src.lines,
        "      except Exception:",
        "          del out[mark:]",
        "          slow(rec)",
    ]
    namespace: dict[str, Any] = {
        **HELPERS, **src.names,
        "_FB": _Fallback, "_U": _UNSET, "_MISSING": MISSING, "_Rejected": Rejected, "_localize": localize,
        "_rfc": rfc3339_utc, "_ld": local_date, "_esc": _escape, "_parse_iso": parse_iso,
    }
    from engine.mapping.compiler import _DAY, _record_id

    namespace["_rid"] = _record_id
    namespace["_DAY"] = _DAY.match
    exec(compile("\n".join(lines) + "\n", "<mapping>", "exec"), namespace)  # noqa: S102 - built from the validated spec
    return namespace["_map"]
