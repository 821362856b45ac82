"""Value-field converters: read, convert to the canonical unit, check type, range and enum.

Each converter is built once per mapping with its unit factor, offset and bounds resolved; per
record it either returns the value or explains why it was dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.spec.catalogue import Catalogue, FieldDef
from engine.spec.model import UnitFrom, ValueField

MISSING = object()  # the field is absent in this record (not an error)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A value that is present but unusable; the reason goes into the mapping warnings."""

    reason: str


Convert = Callable[[Any], Any]  # raw value -> converted value | MISSING | Rejected


@dataclass(frozen=True, slots=True)
class NumberRule:
    """What a number converter does, for code generators that inline it."""

    factor: float
    offset: float
    low: float | None
    high: float | None

    @property
    def identity(self) -> bool:
        return self.factor == 1.0 and self.offset == 0.0


@dataclass(frozen=True, slots=True)
class StringRule:
    allowed: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class BooleanRule:
    pass


Rule = NumberRule | StringRule | BooleanRule


def converter_rule(convert: Convert) -> Rule | None:
    """The rule a converter built here applies (None for any other callable)."""
    return getattr(convert, "rule", None)


def _with_rule(convert: Convert, rule: Rule) -> Convert:
    # A function attribute: `Callable` declares none, and `converter_rule` reads it back.
    convert.rule = rule  # type: ignore[attr-defined]
    return convert

DECIMALS = 6  # canonical numbers are rounded to this many decimals to drop float noise


def _tidy(number: float) -> int | float:
    rounded = round(number, DECIMALS)
    return int(rounded) if rounded.is_integer() else rounded


def _number_converter(field: FieldDef, factor: float, offset: float) -> Convert:
    low, high, unit = field.min, field.max, field.unit
    identity = factor == 1.0 and offset == 0.0

    def convert(raw: Any) -> Any:
        if raw is None:
            return MISSING
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            return Rejected(f"expected a number, got {type(raw).__name__} {raw!r:.40}")
        if identity:
            value = raw
        else:
            value = raw * factor + offset
        if isinstance(value, float):
            if not math.isfinite(value):
                return Rejected(f"not a finite number: {raw!r}")
            value = _tidy(value)
        if (low is not None and value < low) or (high is not None and value > high):
            return Rejected(f"{value} {unit} is outside [{low}, {high}]")
        return value

    return _with_rule(convert, NumberRule(factor, offset, low, high))


def _string_converter(field: FieldDef) -> Convert:
    allowed = frozenset(field.enum) if field.enum is not None else None

    def convert(raw: Any) -> Any:
        if raw is None:
            return MISSING
        if not isinstance(raw, str):
            return Rejected(f"expected a string, got {type(raw).__name__} {raw!r:.40}")
        if allowed is not None and raw not in allowed:
            return Rejected(f"{raw!r:.40} is not one of {', '.join(sorted(allowed))}")
        return raw

    return _with_rule(convert, StringRule(allowed))


def _boolean_converter(raw: Any) -> Any:
    if raw is None:
        return MISSING
    if not isinstance(raw, bool):
        return Rejected(f"expected true or false, got {type(raw).__name__} {raw!r:.40}")
    return raw


_with_rule(_boolean_converter, BooleanRule())


def value_converter(catalogue: Catalogue, sample_type: str, value: ValueField) -> Convert:
    """Raises ValueError when the field or its unit does not fit the catalogue."""
    field = catalogue.field(sample_type, value.name)
    if field is None:
        raise ValueError(f"{sample_type} has no value field {value.name!r}")
    if field.type == "string":
        return _string_converter(field)
    if field.type == "boolean":
        return _boolean_converter
    if field.unit is None:
        raise ValueError(f"{sample_type}.{value.name} has no canonical unit")
    if value.unit is None:
        raise ValueError(f"{sample_type}.{value.name} is a quantity in {field.unit}: give its unit")
    if isinstance(value.unit, UnitFrom):
        return _named_unit_converter(catalogue, field, value.unit)
    factor, offset = catalogue.unit_converter(value.unit, field.unit)
    return _number_converter(field, factor, offset)


def _named_unit_converter(catalogue: Catalogue, field: FieldDef, unit_from: UnitFrom) -> Convert:
    """A converter of `(number, unit string)` pairs: one number converter per unit string that
    measures what the field does, made on first sight of that string."""
    table = dict(unit_from.names)
    by_name: dict[str, Convert | Rejected] = {}
    assert field.unit is not None

    def converter_for(name: str) -> Convert | Rejected:
        known = by_name.get(name)
        if known is None:
            try:
                factor, offset = catalogue.unit_converter(table.get(name, name), field.unit or "")
                known = _number_converter(field, factor, offset)
            except ValueError:
                known = Rejected(f"unit {name!r:.40} is not one the spec's `units` table or the catalogue "
                                 f"converts to {field.unit}")
            if len(by_name) < 256:  # unit strings come from the record: keep the memo bounded
                by_name[name] = known
        return known

    def convert(pair: Any) -> Any:
        number, name = pair
        if number is None:
            return MISSING
        if not isinstance(name, str):
            return Rejected(f"no unit string given for {number!r:.40}")
        chosen = converter_for(name)
        return chosen if isinstance(chosen, Rejected) else chosen(number)

    return convert
