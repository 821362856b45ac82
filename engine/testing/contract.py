"""Replay every recorded fixture of a spec: validate → map → sample-schema check → diff against the
checked-in expectation; webhook fixtures through extraction and routing. Coverage is part of the
contract: a resource with samples or an `on` event type without a fixture fails the test."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from jsonschema import Draft202012Validator

from engine.ingest.batch import BatchError, check_batch, route_batch
from engine.mapping.compiler import compile_resource_mapper, page_records
from engine.mapping.result import MappingError, PayloadError
from engine.mapping.sample_schema import build_sample_schema
from engine.spec.model import Spec
from engine.spec.validate import check_file, format_text
from engine.testing.fixtures import (
    IngestFixture,
    ResponseFixture,
    WebhookFixture,
    find_fixtures,
    fixtures_folder,
)
from engine.webhooks.events import TooManyEvents, extract_events
from engine.webhooks.handshake import has_post_handshake, post_handshake
from engine.webhooks.routing import route_event

FIXTURE_USER = "app-user-1"
Status = Literal["ok", "fail", "warn"]


@dataclass(frozen=True, slots=True)
class Check:
    status: Status
    subject: str
    detail: str = ""


@dataclass(slots=True)
class ContractReport:
    spec_path: str
    spec_id: str | None = None
    checks: list[Check] = field(default_factory=list)
    resources_covered: list[str] = field(default_factory=list)
    events_covered: list[str] = field(default_factory=list)
    updated: list[Path] = field(default_factory=list)
    io_error: bool = False

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def ok(self) -> bool:
        return not self.io_error and not self.failures

    def add(self, status: Status, subject: str, detail: str = "") -> None:
        self.checks.append(Check(status, subject, detail))


@cache
def _sample_validator() -> Draft202012Validator:
    return Draft202012Validator(build_sample_schema())


def _jsonl(samples: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(s, ensure_ascii=False, separators=(",", ":")) + "\n" for s in samples)


def _schema_errors(samples: list[dict[str, Any]]) -> list[str]:
    validator = _sample_validator()
    problems = []
    for index, sample in enumerate(samples):
        for error in validator.iter_errors(sample):
            where = "/".join(str(p) for p in error.absolute_path) or "(sample)"
            problems.append(f"sample {index + 1} {where}: {error.message}")
    return problems


def _first_difference(expected: str, actual: str, *, fields: int = 6) -> str:
    """Where the recorded and the actual output part: field by field when both sides are JSON (a
    document, or JSON Lines compared line by line), else the first differing line."""
    whole = (_json_or_none(expected), _json_or_none(actual)) if "\n" in expected.strip() else (None, None)
    if whole[0] is not None and whole[1] is not None:
        return _field_differences(whole[0], whole[1], fields) or "the documents differ in key order"
    old, new = expected.splitlines(), actual.splitlines()
    for number, (a, b) in enumerate(zip(old, new, strict=False), start=1):
        if a == b:
            continue
        parsed = _json_or_none(a), _json_or_none(b)
        if isinstance(parsed[0], dict) and isinstance(parsed[1], dict):
            what = " ".join(str(parsed[0].get(k)) for k in ("sample_type", "timestamp_utc") if k in parsed[0])
            return f"line {number}{f' ({what})' if what else ''}: {_field_differences(*parsed, fields)}"
        return f"line {number} differs: expected {a[:160]!r}, got {b[:160]!r}"
    return f"expected {len(old)} line(s), got {len(new)}"


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _field_differences(expected: Any, actual: Any, limit: int) -> str:
    found: list[str] = []

    def walk(old: Any, new: Any, path: str) -> None:
        if len(found) > limit:
            return
        if isinstance(old, dict) and isinstance(new, dict):
            for key in [*old, *(k for k in new if k not in old)]:
                where = f"{path}.{key}" if path else str(key)
                if key not in new:
                    found.append(f"{where} missing (expected {_short(old[key])})")
                elif key not in old:
                    found.append(f"{where} unexpected ({_short(new[key])})")
                else:
                    walk(old[key], new[key], where)
        elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
            for index, (a, b) in enumerate(zip(old, new, strict=True)):
                walk(a, b, f"{path}[{index}]")
        elif old != new or type(old) is not type(new):
            found.append(f"{path or 'value'}: expected {_short(old)}, got {_short(new)}")

    walk(expected, actual, "")
    more = f" (and {len(found) - limit} more)" if len(found) > limit else ""
    return "; ".join(found[:limit]) + more


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


class _Runner:
    def __init__(self, report: ContractReport, spec: Spec, *, update: bool) -> None:
        self.report = report
        self.spec = spec
        self.update = update

    def compare(self, subject: str, expected_path: Path, actual: str) -> bool:
        current = expected_path.read_text(encoding="utf-8") if expected_path.exists() else None
        if current == actual:
            return True
        if self.update:
            expected_path.write_text(actual, encoding="utf-8")
            self.report.updated.append(expected_path)
            return True
        if current is None:
            self.report.add("fail", subject, f"no {expected_path.name}; run with --update to record it")
        else:
            self.report.add("fail", subject, f"{expected_path.name}: {_first_difference(current, actual)}")
        return False

    # ------------------------------------------------------------------ responses

    def map_response(self, fixture: ResponseFixture) -> int | None:
        subject = f"fixture {fixture.path.name}"
        resource = self.spec.resources.get(fixture.resource)
        if resource is None:
            self.report.add("fail", subject, f"{fixture.resource!r} is not a resource of this spec")
            return None
        if (resource.list if fixture.kind == "list" else resource.get) is None:
            self.report.add("warn", subject, f"{fixture.resource} declares no {fixture.kind} endpoint")
        try:
            payload = _load_json(fixture.path)
            mapper = compile_resource_mapper(self.spec, fixture.resource)
            records = page_records(resource, payload, fixture.kind)
        except (OSError, ValueError, MappingError, PayloadError) as error:
            self.report.add("fail", subject, str(error)[:300])
            return None
        result = mapper.map_records(records, FIXTURE_USER)
        for warning in result.warnings[:5]:
            self.report.add("warn", subject, str(warning))
        problems = _schema_errors(result.samples)
        if problems:
            self.report.add("fail", subject, f"{len(problems)} schema error(s); first: {problems[0]}")
            return None
        if not result.samples:
            self.report.add("warn", subject, "maps to no samples")
        if not self.compare(subject, fixture.expected, _jsonl(result.samples)):
            return None
        return len(result.samples)

    # ------------------------------------------------------------------ ingest batches

    def map_batch(self, fixture: IngestFixture) -> dict[str, int]:
        """The batch through the schema check and routing, each resource's records mapped;
        samples per resource (empty when the fixture fails)."""
        subject = f"fixture {fixture.path.name}"
        ingest = self.spec.ingest
        if ingest is None:
            self.report.add("fail", subject, "the spec takes no ingest batches (auth type ingest_token)")
            return {}
        try:
            document = _load_json(fixture.path)
            check_batch(ingest.batch, document)
            batch = route_batch(ingest, document)
        except (OSError, ValueError, BatchError) as error:
            self.report.add("fail", subject, str(error)[:300])
            return {}
        samples: list[dict[str, Any]] = []
        counts: dict[str, int] = {}
        for resource, records in batch.records.items():
            result = compile_resource_mapper(self.spec, resource).map_records(records, FIXTURE_USER)
            for warning in result.warnings[:5]:
                self.report.add("warn", subject, str(warning))
            samples.extend(result.samples)
            counts[resource] = len(result.samples)
        for record_type, count in batch.ignored.items():
            # a phone sends every type it holds: one the spec does not map is ignored by design (the
            # batch answer lists it), so it is noted rather than warned about
            self.report.add("ok", subject, f"{count} record(s) of type {record_type!r} ignored (no route in `on`)")
        problems = _schema_errors(samples)
        if problems:
            self.report.add("fail", subject, f"{len(problems)} schema error(s); first: {problems[0]}")
            return {}
        if not self.compare(subject, fixture.expected, _jsonl(samples)):
            return {}
        self.report.add("ok", subject, f"{len(samples)} sample(s), {len(batch.deletions)} deletion(s)")
        return counts

    # ------------------------------------------------------------------ webhooks

    def replay_webhook(self, fixture: WebhookFixture) -> set[str]:
        subject = f"fixture {fixture.path.name}"
        webhooks = self.spec.webhooks
        if webhooks is None:
            self.report.add("fail", subject, "the spec declares no webhooks")
            return set()
        try:
            document = _load_json(fixture.path)
        except (OSError, ValueError) as error:
            self.report.add("fail", subject, f"not JSON: {str(error)[:200]}")
            return set()
        if webhooks.body == "form":
            if not isinstance(document, dict):
                self.report.add("fail", subject, "a form-encoded delivery is recorded as a JSON object of its fields")
                return set()
            document = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in document.items()}
        if has_post_handshake(webhooks):
            answer = post_handshake(webhooks, document, lambda: None)
            if answer is not None:
                self.compare(subject, fixture.expected, _dump({"handshake": {"status": answer.status}}))
                self.report.add("ok", subject, f"handshake answered {answer.status}")
                return set()
        try:
            events = extract_events(self.spec.id, webhooks.events, document)
        except TooManyEvents as error:
            self.report.add("fail", subject, str(error))
            return set()
        if not events:
            self.report.add("fail", subject, "no event extracted")
            return set()
        described, types, failed = [], set(), False
        for event in events:
            routing = route_event(self.spec, event, received_at=0.0)
            entry = self.describe_event(event, routing)
            described.append(entry)
            if event.event_type not in webhooks.routes:
                self.report.add("fail", subject, f"event type {event.event_type!r} is not declared in `on`")
                failed = True
                continue
            types.add(event.event_type)
            failed = self.check_inline(subject, entry) or failed
        recorded: dict[str, Any] = {"events": described}
        if webhooks.ack.accepted is not None:  # what the vendor is answered, when the spec says
            ack = webhooks.ack.accepted
            recorded["ack"] = {"status": ack.status, **({"body": json.loads(ack.body)} if ack.body else {})}
        if self.compare(subject, fixture.expected, _dump(recorded)) and not failed:
            routed = sum(len(e["routes"]) for e in described)
            self.report.add("ok", subject, f"{len(described)} event(s), {routed} route(s)")
        return types

    def describe_event(self, event: Any, routing: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": event.event_type, "id": event.event_id, "user": event.vendor_user_id,
                                 "object_id": event.object_id}
        if event.callback_url:
            entry["callback_url"] = event.callback_url
        if event.window_start or event.window_end:
            entry["window"] = {"start": event.window_start, "end": event.window_end}
        routes = []
        for job in routing.jobs:
            payload = job.payload  # what the job will do: a confirm step replaces the route's action
            action, resource, by = payload.action, payload.resource, payload.by
            route: dict[str, Any] = {"action": action}
            if resource:
                route["resource"] = resource
            # A delete names its scope only when it is not the event's object id.
            if action == "fetch" or (action == "delete" and by != "id"):
                route["by"] = by
            if payload.confirm:
                route["confirm"] = payload.confirm
            if action == "ingest":
                route["samples"] = self.inline_samples(resource, event.data)
            routes.append(route)
        entry["routes"] = routes
        if routing.note:
            entry["note"] = routing.note
        return entry

    def inline_samples(self, resource: str | None, data: Any) -> int | str:
        if resource is None:
            return 0
        records = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
        try:
            result = compile_resource_mapper(self.spec, resource).map_records(records, FIXTURE_USER)
        except MappingError as error:
            return f"error: {error}"
        problems = _schema_errors(result.samples)
        return f"error: {problems[0]}" if problems else len(result.samples)

    def check_inline(self, subject: str, entry: dict[str, Any]) -> bool:
        for route in entry["routes"]:
            if isinstance(route.get("samples"), str):
                self.report.add("fail", subject, f"inline data of {entry['type']}: {route['samples']}")
                return True
        return False


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def run_contract(spec_path: str | Path, *, update: bool = False) -> ContractReport:
    """The contract test of one spec file; never raises for anything the files hold."""
    path = Path(spec_path)
    report = ContractReport(str(path))
    checked = check_file(path)
    if checked.io_error:
        report.io_error = True
        report.add("fail", "spec", "; ".join(i.message for i in checked.issues) or "cannot read the file")
        return report
    if checked.issues or checked.spec is None:
        for issue in checked.issues[:10]:
            report.add("fail", "validate", format_text(issue))
        return report
    spec = checked.spec
    report.spec_id = spec.id
    report.add("ok", "validate", "spec is valid")
    runner = _Runner(report, spec, update=update)
    found = find_fixtures(fixtures_folder(path, spec.id))
    for stray in found.unrecognised:
        report.add("warn", f"fixture {stray.name}", "name matches no fixture convention; ignored")
    for orphan in found.orphaned_expectations:
        report.add("warn", f"fixture {orphan.name}", "expectation without its fixture")

    mapped: dict[str, list[str]] = {}
    for batch in found.batches:
        for routed, made in runner.map_batch(batch).items():
            mapped.setdefault(routed, []).append(f"{batch.path.name} {made} sample(s)")
    for fixture in found.responses:
        count = runner.map_response(fixture)
        if count is not None:
            mapped.setdefault(fixture.resource, []).append(f"{fixture.kind} {count} sample(s)")
    for name, resource in spec.resources.items():
        if name in mapped:
            report.resources_covered.append(name)
            report.add("ok", f"resource {name}", ", ".join(mapped[name]))
        elif resource.samples and spec.ingest is not None:
            report.add("fail", f"resource {name}", "no ingest.<label>.json batch holds a record of it")
        elif resource.samples and not any(f.resource == name for f in found.responses):
            report.add("fail", f"resource {name}", f"no fixture ({name}.list.json or {name}.get.json)")

    covered: set[str] = set()
    for webhook in found.webhooks:
        covered |= runner.replay_webhook(webhook)
    if spec.webhooks is not None:
        for event_type in spec.webhooks.routes:
            if event_type in covered:
                report.events_covered.append(event_type)
            else:
                report.add("fail", f"event {event_type}", "no webhook fixture delivers this event type")
    return report
