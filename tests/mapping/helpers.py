"""Shared helpers for the mapping tests: shipped specs, fixtures, inline mappings, the sample schema."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from engine.mapping.compiler import ResourceMapper
from engine.mapping.sample_mapper import SampleMapper
from engine.spec.catalogue import CATALOGUE
from engine.spec.expr import Expr
from engine.spec.loader import load_spec
from engine.spec.model import SampleMapping, Spec, TimeField, TzField, ValueField

REPO_ROOT = Path(__file__).resolve().parents[2]
VENDORS = REPO_ROOT / "vendors"
VENDOR_IDS = ("whoop", "oura")


@cache
def shipped_spec(vendor: str) -> Spec:
    return load_spec(VENDORS / f"{vendor}.yaml", env={})


def fixture_paths(vendor: str) -> list[Path]:
    folder = VENDORS / vendor / "fixtures"
    # Vendor responses only: `<resource>.<list|get>.json` (webhook deliveries live beside them).
    return sorted(p for p in folder.glob("*.json") if p.stem.rpartition(".")[2] in ("list", "get"))


def fixture(vendor: str, name: str) -> Any:
    return json.loads((VENDORS / vendor / "fixtures" / f"{name}.json").read_text())


@cache
def sample_validator() -> Draft202012Validator:
    schema = json.loads((REPO_ROOT / "schemas" / "synheart-sample.schema.json").read_text())
    return Draft202012Validator(schema)


def assert_valid_samples(samples: list[dict[str, Any]]) -> None:
    validator = sample_validator()
    for sample in samples:
        errors = [e.message for e in validator.iter_errors(sample)]
        assert not errors, (sample, errors)


def value(name: str, path: str | None = None, unit: str | None = None, const: Any = None) -> ValueField:
    return ValueField(name=name, path=Expr(path) if path is not None else None, const=const, unit=unit)


def inline_mapper(
    sample_type: str,
    values: list[ValueField],
    *,
    start: str = "t",
    start_format: str = "iso",
    end: str | None = None,
    tz: str | None = None,
    tz_format: str = "offset",
    each: str | None = None,
    when: str | None = None,
    record_id: str | None = "id",
    local_date: str | None = None,
    updated_at: str | None = None,
) -> ResourceMapper:
    """A one-mapping resource ``things`` of source ``test``, built from the model directly."""
    mapping = SampleMapping(
        type=sample_type,
        values=tuple(values),
        when=Expr(when) if when else None,
        each=Expr(each) if each else None,
        record_id=Expr(record_id) if record_id else None,
        start=TimeField(Expr(start), start_format),
        end=TimeField(Expr(end), start_format) if end else None,
        tz_offset=TzField(Expr(tz), tz_format) if tz else None,  # type: ignore[arg-type]
        local_date=Expr(local_date) if local_date else None,
        updated_at=TimeField(Expr(updated_at)) if updated_at else None,
    )
    return ResourceMapper("test", "things", (SampleMapper("test", "things", mapping, CATALOGUE),))
