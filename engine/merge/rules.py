"""The merged view's rules as data: `merge.yaml` (ENGINE_MERGE_RULES, else the packaged default)
read with the specs' located YAML reader, checked against schemas/merge-rules.schema.json and
the sample catalogue, each problem at file:line:col."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from engine.spec.catalogue import CATALOGUE, load_json_schema
from engine.spec.compile_base import duration_seconds
from engine.spec.document import Document, DocumentError, LocatedIssue, read_document
from engine.spec.errors import closest

SCHEMA = "merge-rules.schema.json"
DEFAULT_RULES_PATH = Path(__file__).with_name("default-merge.yaml")
ANY_TYPE = "*"  # a user's priority list for every type they name no list for
KINDS_ON_INTERVALS = frozenset({"additive", "timeline", "event"})
KINDS_ON_POINTS = frozenset({"bucket", "measurement"})
_SEPARATORS = re.compile(r"[\s_\-]+")


class MergeRulesError(Exception):
    """Rules that cannot be used; every issue is placed in the file."""

    def __init__(self, issues: list[LocatedIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(located(i) for i in issues[:5]))


def located(issue: LocatedIssue) -> str:
    hint = f" (did you mean {issue.suggestion!r}?)" if issue.suggestion else ""
    return f"{issue.file}:{issue.line}:{issue.col}: {issue.message}{hint}"


def activity_key(name: str) -> str:
    """`Trail Run`, `trail_run` and `TRAIL-RUN` are one activity name."""
    return _SEPARATORS.sub("", name.strip().lower())


@dataclass(frozen=True, slots=True)
class Tolerance:
    field: str
    absolute: float | None = None
    relative: float | None = None

    def agrees(self, a: float, b: float) -> bool:
        gap = abs(a - b)
        if self.absolute is not None and gap <= self.absolute:
            return True
        larger = max(abs(a), abs(b))
        return self.relative is not None and (larger == 0 or gap / larger <= self.relative)


@dataclass(frozen=True, slots=True)
class TypeRule:
    sample_type: str
    kind: str  # additive | timeline | event | bucket | measurement | keep
    max_duration_us: int = 86_400_000_000
    overlap_tolerance_us: int = 0
    bucket_us: int = 60_000_000
    within_us: int = 0
    start_within_us: int = 0
    end_within_us: int = 0
    same_activity_family: bool = False
    values: tuple[Tolerance, ...] = ()

    def margins(self) -> tuple[int, int]:
        """How far before and after a window the samples deciding its merged samples may start."""
        if self.kind in ("additive", "timeline"):
            return self.max_duration_us, self.max_duration_us
        if self.kind == "event":  # an event's fate depends on the events overlapping those it overlaps
            return 2 * self.max_duration_us, self.max_duration_us
        if self.kind == "bucket":
            return self.bucket_us, self.bucket_us
        if self.kind == "measurement":
            return 2 * self.within_us, self.within_us
        return 0, 0


KEEP = "keep"


@dataclass(frozen=True)
class MergeRules:
    path: str
    default_priority: tuple[str, ...]
    priorities: Mapping[str, tuple[str, ...]]
    types: Mapping[str, TypeRule]
    families: Mapping[str, str] = field(default_factory=dict)  # activity key -> family

    def rule(self, sample_type: str) -> TypeRule:
        return self.types.get(sample_type) or TypeRule(sample_type, KEEP)

    def priority(self, sample_type: str, user: Mapping[str, list[str]] | None = None) -> tuple[str, ...]:
        """A user's list for the type, else the user's `*` list, else the deployment's list for
        the type, else the deployment's default."""
        if user:
            chosen = user.get(sample_type) or user.get(ANY_TYPE)
            if chosen:
                return tuple(chosen)
        return self.priorities.get(sample_type) or self.default_priority

    def family(self, activity: Any) -> str | None:
        if not isinstance(activity, str) or not activity.strip():
            return None
        key = activity_key(activity)
        return self.families.get(key, key)


# --------------------------------------------------------------------------- loading


def load_rules(path: str | Path | None = None) -> MergeRules:
    """The rules at `path` (None: the packaged default). Raises MergeRulesError."""
    try:
        doc = read_document(path or DEFAULT_RULES_PATH)
    except DocumentError as error:
        raise MergeRulesError(list(error.issues)) from None
    issues = schema_issues(doc)
    if issues:
        raise MergeRulesError(issues)
    rules, issues = _build(doc)
    if issues:
        raise MergeRulesError(issues)
    return rules


def rules_from_env(env: Mapping[str, str]) -> MergeRules:
    """ENGINE_MERGE_RULES (a path), else the packaged rules."""
    path = (env.get("ENGINE_MERGE_RULES") or "").strip()
    return load_rules(path) if path else default_rules()


@lru_cache(maxsize=1)
def default_rules() -> MergeRules:
    return load_rules(None)


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(load_json_schema(SCHEMA))


def schema_issues(doc: Document) -> list[LocatedIssue]:
    issues = [issue for error in _validator().iter_errors(doc.data) for issue in _explain(error, doc)]
    return sorted(dict.fromkeys(issues), key=lambda i: (i.line, i.col, i.message))


def _explain(error: ValidationError, doc: Document) -> list[LocatedIssue]:
    path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(schema.get("properties", {}))
        return [doc.issue((*path, key), "schema.unknown_key",
                          f"unknown key {key!r}" + ("" if closest(key, allowed) or not allowed
                                                    else f"; expected one of: {', '.join(allowed)}"),
                          closest(key, allowed), at_key=True)
                for key in error.instance if key not in allowed]
    if error.validator == "required" and isinstance(error.instance, dict):
        return [doc.issue(path, "schema.missing_key", f"missing required key {key!r}", at_key=True)
                for key in error.validator_value if key not in error.instance]
    if error.validator == "enum" and isinstance(error.instance, str):
        choices = [str(c) for c in error.validator_value]
        return [doc.issue(path, "schema.enum", f"{error.instance!r} is not one of: {', '.join(choices)}",
                          closest(error.instance, choices))]
    if error.validator == "pattern" and "propertyNames" in error.relative_schema_path:
        return [doc.issue((*path, str(error.instance)), "schema.bad_name",
                          f"invalid name {error.instance!r}: must match {error.validator_value}", at_key=True)]
    return [doc.issue(path, f"schema.{error.validator}", error.message)]


def _us(text: str | None, default: int) -> int:
    return default if text is None else int(duration_seconds(text) * 1_000_000)


def _build(doc: Document) -> tuple[MergeRules, list[LocatedIssue]]:
    data = doc.data
    issues: list[LocatedIssue] = []
    known = sorted(CATALOGUE.types)
    priorities: dict[str, tuple[str, ...]] = {}
    for name, sources in data["priorities"].items():
        if name != "default" and name not in CATALOGUE.types:
            issues.append(doc.issue(("priorities", name), "rules.unknown_type",
                                    f"unknown sample type {name!r} (or `default`)",
                                    closest(name, known), at_key=True))
        priorities[name] = tuple(sources)
    types: dict[str, TypeRule] = {}
    for name, body in (data.get("types") or {}).items():
        rule = _type_rule(doc, name, body, issues)
        if rule is not None:
            types[name] = rule
    families: dict[str, str] = {}
    for family, names in (data.get("activity_families") or {}).items():
        for index, activity in enumerate(names):
            key = activity_key(activity)
            if families.get(key, family) != family:
                issues.append(doc.issue(("activity_families", family, index), "rules.family_twice",
                                        f"{activity!r} is already in family {families[key]!r}"))
            families[key] = family
    rules = MergeRules(doc.path, priorities.pop("default"), priorities, types, families)
    return rules, issues


def _type_rule(doc: Document, name: str, body: dict[str, Any], issues: list[LocatedIssue]) -> TypeRule | None:
    sample_type = CATALOGUE.sample_type(name)
    if sample_type is None:
        issues.append(doc.issue(("types", name), "rules.unknown_type", f"unknown sample type {name!r}",
                                closest(name, sorted(CATALOGUE.types)), at_key=True))
        return None
    kind = body["kind"]
    wanted = "interval" if kind in KINDS_ON_INTERVALS else "point" if kind in KINDS_ON_POINTS else None
    if wanted is not None and sample_type.kind != wanted:
        issues.append(doc.issue(("types", name, "kind"), "rules.kind",
                                f"kind {kind!r} needs an {wanted} type; {name} is a {sample_type.kind} type"))
        return None
    match = body.get("match") or {}
    values = []
    for field_name, tolerance in {**(body.get("values") or {}), **(match.get("values") or {})}.items():
        where = ("types", name, *(("match",) if "match" in body else ()), "values", field_name)
        field_def = sample_type.fields.get(field_name)
        if field_def is None or field_def.type != "number":
            numeric = sorted(f for f, d in sample_type.fields.items() if d.type == "number")
            issues.append(doc.issue(where, "rules.unknown_field",
                                    f"{name} has no numeric field {field_name!r}; it has: {', '.join(numeric)}",
                                    closest(field_name, numeric), at_key=True))
            continue
        values.append(Tolerance(field_name, tolerance.get("absolute"), tolerance.get("relative")))
    return TypeRule(
        name, kind,
        max_duration_us=_us(body.get("max_duration"), 86_400_000_000),
        overlap_tolerance_us=_us(body.get("overlap_tolerance"), 0),
        bucket_us=_us(body.get("bucket"), 60_000_000),
        within_us=_us(body.get("within"), 0),
        start_within_us=_us(match.get("start_within"), 0),
        end_within_us=_us(match.get("end_within"), 0),
        same_activity_family=bool(match.get("same_activity_family", False)),
        values=tuple(values),
    )
