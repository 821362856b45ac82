"""The spec-language schema is itself a valid JSON Schema (checked here rather than at start-up)."""

from __future__ import annotations

from jsonschema import Draft202012Validator

from engine.spec.validate import SPEC_SCHEMA, load_json_schema


def test_vendor_spec_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(load_json_schema(SPEC_SCHEMA))
