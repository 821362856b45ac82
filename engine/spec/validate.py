"""Checking a spec file: read it, check its structure against the JSON Schema, then compile it.

Every problem becomes a ``LocatedIssue`` at the offending YAML node. JSON Schema errors are
rewritten into one clear message each: unknown keys name the closest valid key, a block chosen by
its ``type`` is reported against that variant only, and a ``oneOf`` reports the variant the
author evidently meant rather than every alternative.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from engine.spec.catalogue import load_json_schema
from engine.spec.compile import compile_spec
from engine.spec.defaults import apply_defaults
from engine.spec.document import (
    Document,
    DocumentError,
    JsonPath,
    LocatedIssue,
    env_references,
    read_document,
)
from engine.spec.errors import SpecError, closest
from engine.spec.model import Spec

SPEC_SCHEMA = "vendor-spec.schema.json"
MAX_SCHEMA_ISSUES = 100


@dataclass(slots=True)
class Report:
    """The outcome of checking one file."""

    path: str
    issues: list[LocatedIssue] = field(default_factory=list)
    spec: Spec | None = None
    io_error: bool = False  # the file could not be read at all (missing, unreadable)

    @property
    def ok(self) -> bool:
        return not self.issues


def check_file(
    path: str | Path, *, env: Mapping[str, str] | None = None, check_env: bool = False
) -> Report:
    """Check one spec file end to end; never raises for anything the file holds."""
    name = str(path)
    try:
        doc = read_document(path)
    except DocumentError as exc:
        return Report(name, list(exc.issues), io_error=exc.io_error)
    return check_document(doc, env=env, check_env=check_env)


def check_document(
    doc: Document, *, env: Mapping[str, str] | None = None, check_env: bool = False
) -> Report:
    environment = os.environ if env is None else env
    defaulted = apply_defaults(doc)  # `defaults:` blocks merged in, values keeping their lines
    if defaulted.document is None:
        return Report(doc.path, _dedupe(defaulted.issues))
    doc = defaulted.document
    refs, issues = env_references(doc)
    issues.extend(defaulted.issues)
    if check_env:
        issues.extend(_unset_env_issues(doc, refs, environment))
    structural = schema_issues(doc)
    issues.extend(structural)
    spec: Spec | None = None
    if not structural:
        try:
            spec = compile_spec(doc.data, path=doc.path, env=environment)
        except SpecError as exc:
            issues.extend(_locate(doc, exc.issues))
        except Exception as exc:  # noqa: BLE001 -- a compiler bug must still read as a clean error
            issues.append(doc.issue((), "internal.error", f"internal error while compiling: "
                                    f"{type(exc).__name__}: {exc}"))
    issues = _dedupe(_without_env_echoes(defaulted.written_at(issues)))
    return Report(doc.path, issues, None if issues else spec)


def _unset_env_issues(doc: Document, refs, environment: Mapping[str, str]) -> list[LocatedIssue]:
    issues = []
    for ref in refs:
        if ref.has_default or environment.get(ref.name):
            continue
        written = f"{{env:{ref.name}}}" if ref.placeholder else f"${{{ref.name}}}"
        issues.append(doc.issue(ref.json_path, "env.unset",
                                f"environment variable {ref.name} is not set (used as {written})"))
    return issues


def _locate(doc: Document, issues: Iterable[Any]) -> list[LocatedIssue]:
    located = []
    for issue in issues:
        if isinstance(issue, LocatedIssue):
            located.append(issue)
            continue
        path = tuple(issue.json_path)
        at_key = bool(path) and not isinstance(doc.data, list) and path in doc.key_positions \
            and path not in doc.positions
        located.append(doc.issue(path, issue.code, issue.message, issue.suggestion, at_key=at_key))
    return located


def _without_env_echoes(issues: list[LocatedIssue]) -> list[LocatedIssue]:
    """A malformed ``${`` reference makes its string fail other checks too; keep only the cause."""
    broken = {i.json_path for i in issues if i.code == "env.syntax"}
    return [i for i in issues if i.code == "env.syntax" or i.json_path not in broken]


def _dedupe(issues: list[LocatedIssue]) -> list[LocatedIssue]:
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for issue in sorted(issues, key=lambda i: (i.line, i.col, _path_sort_key(i.json_path), i.code)):
        key = (issue.json_path, issue.code, issue.message)
        if key not in seen:
            seen.add(key)
            unique.append(issue)
    return unique


def _path_sort_key(path: JsonPath) -> tuple[str, ...]:
    return tuple(str(part) for part in path)


# --- structural pass ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    # The schema's own well-formedness is checked by the test suite, not at every start-up.
    return Draft202012Validator(load_json_schema(SPEC_SCHEMA))


def schema_issues(doc: Document) -> list[LocatedIssue]:
    errors = _without_vacuous_branches(list(_validator().iter_errors(doc.data)))
    issues: list[LocatedIssue] = []
    for error in errors:
        issues.extend(_explain(error, doc))
        if len(issues) >= MAX_SCHEMA_ISSUES:
            break
    return _without_misspelt_required(issues)


def _without_misspelt_required(issues: list[LocatedIssue]) -> list[LocatedIssue]:
    """``paht: x`` is one mistake: report the unknown key (suggesting ``path``), not also
    the missing ``path``."""
    misspelt = {(i.json_path[:-1], i.suggestion) for i in issues
                if i.code == "schema.unknown_key" and i.suggestion}
    return [i for i in issues if not (
        i.code == "schema.missing_key"
        and any(parent == i.json_path and i.message.startswith(f"missing required key {s!r}")
                for parent, s in misspelt))]


def _without_vacuous_branches(errors: list[ValidationError]) -> list[ValidationError]:
    """Drop errors from ``if type == X then ...`` branches of a block that has no ``type``.

    A missing ``type`` makes every ``if`` true (JSON Schema's ``properties`` ignores absent keys),
    so all variants would report; the missing discriminator is the one real problem.
    """
    untyped = [
        tuple(e.absolute_path) for e in errors
        if e.validator == "required" and isinstance(e.instance, dict) and "type" not in e.instance
        and "type" in (e.validator_value or ())
    ]
    if not untyped:
        return errors
    kept = []
    for error in errors:
        path = tuple(error.absolute_path)
        in_branch = "then" in error.relative_schema_path
        if in_branch and any(path[: len(p)] == p for p in untyped):
            continue
        kept.append(error)
    return kept


def _explain(error: ValidationError, doc: Document) -> list[LocatedIssue]:
    path: JsonPath = tuple(error.absolute_path)
    validator = error.validator
    instance = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}

    if validator in ("oneOf", "anyOf"):
        return _explain_union(error, doc)

    if validator == "additionalProperties" and isinstance(instance, dict):
        allowed = sorted(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        issues = []
        for key in instance:
            if key in allowed or any(p.search(key) for p in patterns):
                continue
            suggestion = closest(key, allowed)
            message = f"unknown key {key!r}"
            if suggestion is None and allowed:
                message += f"; expected one of: {', '.join(allowed)}"
            issues.append(doc.issue((*path, key), "schema.unknown_key", message, suggestion, at_key=True))
        return issues

    if validator == "required" and isinstance(instance, dict):
        variant = _variant_name(schema) if "then" in error.relative_schema_path else None
        issues = []
        for key in error.validator_value:
            if key in instance:
                continue
            message = f"missing required key {key!r}"
            if variant is not None:
                message += f" for type {variant!r}"
            type_choices = schema.get("properties", {}).get("type", {}).get("enum")
            if key == "type" and type_choices:
                message += f" (one of: {', '.join(map(str, type_choices))})"
            issues.append(doc.issue(path, "schema.missing_key", message, at_key=True))
        return issues

    if validator == "type":
        expected = error.validator_value
        expected_list: list[str] = expected if isinstance(expected, list) else [expected]  # type names
        message = f"expected {_or(_TYPE_NAMES.get(t, t) for t in expected_list)}, got {_describe(instance)}"
        return [doc.issue(path, "schema.type", message)]

    if validator in ("enum", "const"):
        choices = error.validator_value if validator == "enum" else [error.validator_value]
        code = "schema.bad_discriminator" if path and path[-1] == "type" else f"schema.{validator}"
        shown = ", ".join(_show(c) for c in choices)
        message = (f"{_show(instance)} is not one of: {shown}" if len(choices) > 1
                   else f"must be {shown}, got {_show(instance)}")
        if code == "schema.bad_discriminator":
            message = f"unknown type {_show(instance)}; expected one of: {shown}" if len(choices) > 1 \
                else f"type must be {shown}, got {_show(instance)}"
        text_choices = [c for c in choices if isinstance(c, str)]
        suggestion = closest(instance, text_choices) if isinstance(instance, str) else None
        return [doc.issue(path, code, message, suggestion)]

    if validator == "pattern" and "propertyNames" in error.relative_schema_path:
        key = str(instance)
        return [doc.issue((*path, key), "schema.bad_name",
                          f"invalid name {key!r}: must match {error.validator_value}", at_key=True)]

    if validator == "pattern":
        description = schema.get("description")
        message = f"{_show(instance)} does not match {error.validator_value}"
        if description:
            message += f" ({description.rstrip('.')})"
        return [doc.issue(path, "schema.pattern", message)]

    if validator in _RANGE_WORDS:
        word = _RANGE_WORDS[validator]
        return [doc.issue(path, "schema.range", f"{_show(instance)} {word} {error.validator_value}")]

    if validator in ("minLength", "minItems", "minProperties"):
        limit = error.validator_value
        what = {"minLength": "character", "minItems": "item", "minProperties": "entry"}[validator]
        message = "must not be empty" if limit == 1 else f"needs at least {limit} {what}s"
        return [doc.issue(path, "schema.too_short", message)]

    message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    return [doc.issue(path, "schema.invalid", message)]


def _explain_union(error: ValidationError, doc: Document) -> list[LocatedIssue]:
    path: JsonPath = tuple(error.absolute_path)
    instance = error.instance
    variants: list[Any] = list(error.validator_value)
    key_choices = _key_choice_variants(variants)

    if key_choices is not None and not isinstance(instance, dict):
        return []  # the block's own `type: object` reports the real problem
    if key_choices is not None:
        present = [k for k in key_choices if k in instance]
        if not present:
            return [doc.issue(path, "schema.one_of", f"needs one of: {', '.join(key_choices)}",
                              at_key=True)]
        if len(present) > 1:
            return [doc.issue(path, "schema.one_of", f"give only one of: {', '.join(present)}",
                              at_key=True)]

    if not error.context:  # oneOf matched more than one variant
        return [doc.issue(path, "schema.one_of", "matches more than one form; make it unambiguous")]

    by_variant: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        index = sub.relative_schema_path[0] if sub.relative_schema_path else 0
        by_variant.setdefault(int(index), []).append(sub)

    def wrong_shape(errors: list[ValidationError]) -> bool:
        depth = len(error.absolute_path)
        return any(e.validator == "type" and len(e.absolute_path) == depth for e in errors)

    candidates = {i: errs for i, errs in by_variant.items() if not wrong_shape(errs)}
    if not candidates:
        expected: list[str] = []
        for errs in by_variant.values():
            for e in errs:
                if e.validator == "type":
                    values = e.validator_value if isinstance(e.validator_value, list) else [e.validator_value]
                    expected.extend(v for v in values if v not in expected)
        message = f"expected {_or(_TYPE_NAMES.get(t, t) for t in expected)}, got {_describe(instance)}"
        return [doc.issue(path, "schema.type", message)]

    def score(item: tuple[int, list[ValidationError]]) -> tuple[int, int, int]:
        index, errs = item
        depth = len(error.absolute_path)
        root_required = sum(1 for e in errs if e.validator == "required" and len(e.absolute_path) == depth)
        return (root_required, len(errs), index)

    _, chosen = min(candidates.items(), key=score)
    issues: list[LocatedIssue] = []
    for sub in _without_vacuous_branches(chosen):
        issues.extend(_explain(sub, doc))
    return issues


def _key_choice_variants(variants: list[Any]) -> list[str] | None:
    """For ``oneOf`` variants that only say which one key must be present, those keys."""
    keys = []
    for variant in variants:
        if not isinstance(variant, dict) or set(variant) - {"required", "not"}:
            return None
        required = variant.get("required") or []
        if len(required) != 1:
            return None
        keys.append(required[0])
    return keys


def _variant_name(schema: Mapping[str, Any]) -> str | None:
    const = schema.get("properties", {}).get("type", {}).get("const")
    return const if isinstance(const, str) else None


_TYPE_NAMES = {
    "string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
    "object": "a mapping", "array": "a list", "null": "nothing",
}
_RANGE_WORDS = {
    "minimum": "is below the minimum", "maximum": "is above the maximum",
    "exclusiveMinimum": "must be greater than", "exclusiveMaximum": "must be less than",
}


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {_show(value)}"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return repr(text)
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return str(value)
    return "a list" if isinstance(value, list) else "a mapping"


def _or(words: Iterable[str]) -> str:
    items = list(words)
    if len(items) <= 1:
        return items[0] if items else "something else"
    return ", ".join(items[:-1]) + " or " + items[-1]


# --- output ------------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def render_json_path(path: JsonPath) -> str:
    parts = ["$"]
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            parts.append(f".{part}")
        else:
            parts.append(f"[{json.dumps(part)}]")
    return "".join(parts)


def format_text(issue: LocatedIssue) -> str:
    where = render_json_path(issue.json_path)
    text = f"{issue.file}:{issue.line}:{issue.col}: error: {where}: {issue.message}"
    if issue.suggestion:
        text += f" (did you mean {issue.suggestion!r}?)"
    return f"{text} [{issue.code}]"


def to_json(issue: LocatedIssue) -> dict[str, Any]:
    return {
        "file": issue.file,
        "line": issue.line,
        "col": issue.col,
        "code": issue.code,
        "json_path": render_json_path(issue.json_path),
        "message": issue.message,
        "suggestion": issue.suggestion,
    }
