"""The catalogue of normalized sample types, read once from ``schemas/sample-catalogue.json``.

The catalogue is data: sample types, their value fields with canonical units and allowed ranges,
and the unit table (dimension, factor and offset to the dimension's canonical unit).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

# The package's own copies (in a checkout: links to the top-level schemas/ and vendors/).
SHIPPED = Path(str(resources.files("engine.shipped")))
SCHEMAS_DIR = SHIPPED / "schemas"
SHIPPED_VENDORS_DIR = SHIPPED / "vendors"


def schema_path(name: str) -> Path:
    """Path of a file in the schemas folder, e.g. ``schema_path("vendor-spec.schema.json")``."""
    return SCHEMAS_DIR / name


@cache
def load_json_schema(name: str) -> dict[str, Any]:
    with schema_path(name).open(encoding="utf-8") as handle:
        return json.load(handle)


@dataclass(frozen=True, slots=True)
class Unit:
    name: str
    dimension: str
    factor: float  # canonical = value * factor + offset
    offset: float


@dataclass(frozen=True, slots=True)
class FieldDef:
    name: str
    type: str  # "number", "string" or "boolean"
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    required: bool = False
    enum: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class SampleType:
    name: str
    kind: str  # "point" or "interval"
    fields: dict[str, FieldDef]


class Catalogue:
    def __init__(self, data: dict[str, Any]) -> None:
        self.version: int = int(data.get("version", 1))
        self.units: dict[str, Unit] = {
            name: Unit(name, dim, float(factor), float(offset))
            for name, (dim, factor, offset) in data["units"].items()
        }
        self.canonical: dict[str, str] = dict(data["canonical"])
        self.types: dict[str, SampleType] = {
            name: SampleType(
                name,
                spec.get("kind", "point"),
                {fname: _field(fname, fspec) for fname, fspec in spec["fields"].items()},
            )
            for name, spec in data["types"].items()
        }

    def sample_type(self, name: str) -> SampleType | None:
        return self.types.get(name)

    def field(self, type_name: str, field_name: str) -> FieldDef | None:
        sample_type = self.types.get(type_name)
        return None if sample_type is None else sample_type.fields.get(field_name)

    def dimension(self, unit: str) -> str | None:
        known = self.units.get(unit)
        return None if known is None else known.dimension

    def unit_converter(self, unit: str, field_unit: str) -> tuple[float, float]:
        """(factor, offset) with ``value_in_field_unit = value * factor + offset``.

        Raises ValueError for an unknown unit or when the two units measure different things.
        """
        source, target = self.units.get(unit), self.units.get(field_unit)
        if source is None:
            raise ValueError(f"unknown unit {unit!r}; known: {', '.join(sorted(self.units))}")
        if target is None:
            raise ValueError(f"unknown unit {field_unit!r}")
        if source.dimension != target.dimension:
            raise ValueError(
                f"cannot convert {unit} ({source.dimension}) to {field_unit} ({target.dimension})"
            )
        if source.name == target.name:
            return 1.0, 0.0
        factor = source.factor / target.factor
        offset = (source.offset - target.offset) / target.factor
        return factor, offset

    def convert_factor(self, unit: str, canonical: str) -> float:
        """The multiplicative factor from ``unit`` to ``canonical`` (units with no offset)."""
        factor, _ = self.unit_converter(unit, canonical)
        return factor


def _field(name: str, spec: dict[str, Any]) -> FieldDef:
    enum = spec.get("enum")
    return FieldDef(
        name=name,
        type=spec.get("type", "number"),
        unit=spec.get("unit"),
        min=spec.get("min"),
        max=spec.get("max"),
        required=bool(spec.get("required", False)),
        enum=tuple(enum) if enum is not None else None,
    )


CATALOGUE = Catalogue(load_json_schema("sample-catalogue.json"))
