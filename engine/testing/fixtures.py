"""Finding a spec's recorded fixtures: `<spec dir>/<spec id>/fixtures/`.

- `<resource>.list.json` / `<resource>.get.json`: a vendor response, with `<name>.expected.jsonl`
  holding the normalized samples it maps to;
- `webhook.<label>.json`: a delivery body (for form-encoded webhooks, the decoded fields as a JSON
  object), with `webhook.<label>.expected.json` holding the extracted events and their routes;
- `ingest.<label>.json`: a batch an on-device source's app posts, with
  `ingest.<label>.expected.jsonl` holding the samples its records map to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

from engine.mapping.compiler import PageKind

EXPECTED_SAMPLES = ".expected.jsonl"
EXPECTED_EVENTS = ".expected.json"


@dataclass(frozen=True, slots=True)
class ResponseFixture:
    path: Path
    resource: str
    kind: PageKind

    @property
    def expected(self) -> Path:
        return self.path.with_name(self.path.name[: -len(".json")] + EXPECTED_SAMPLES)


@dataclass(frozen=True, slots=True)
class WebhookFixture:
    path: Path
    label: str

    @property
    def expected(self) -> Path:
        return self.path.with_name(self.path.name[: -len(".json")] + EXPECTED_EVENTS)


@dataclass(frozen=True, slots=True)
class IngestFixture:
    path: Path
    label: str

    @property
    def expected(self) -> Path:
        return self.path.with_name(self.path.name[: -len(".json")] + EXPECTED_SAMPLES)


@dataclass(slots=True)
class FixtureSet:
    folder: Path
    responses: list[ResponseFixture] = field(default_factory=list)
    webhooks: list[WebhookFixture] = field(default_factory=list)
    batches: list[IngestFixture] = field(default_factory=list)
    unrecognised: list[Path] = field(default_factory=list)
    orphaned_expectations: list[Path] = field(default_factory=list)


def fixtures_folder(spec_path: Path, spec_id: str) -> Path:
    return spec_path.parent / spec_id / "fixtures"


def find_fixtures(folder: Path) -> FixtureSet:
    found = FixtureSet(folder)
    if not folder.is_dir():
        return found
    names = {p.name for p in folder.iterdir() if p.is_file()}
    for name in sorted(names):
        path = folder / name
        if name.endswith((EXPECTED_SAMPLES, EXPECTED_EVENTS)):
            suffix = EXPECTED_SAMPLES if name.endswith(EXPECTED_SAMPLES) else EXPECTED_EVENTS
            if name[: -len(suffix)] + ".json" not in names:
                found.orphaned_expectations.append(path)
            continue
        if not name.endswith(".json"):
            found.unrecognised.append(path)
            continue
        stem = name[: -len(".json")]
        if stem.startswith("webhook.") and len(stem) > len("webhook."):
            found.webhooks.append(WebhookFixture(path, stem[len("webhook."):]))
            continue
        if stem.startswith("ingest.") and len(stem) > len("ingest."):
            found.batches.append(IngestFixture(path, stem[len("ingest."):]))
            continue
        resource, _, kind = stem.rpartition(".")
        if resource and _is_page_kind(kind):
            found.responses.append(ResponseFixture(path, resource, kind))
        else:
            found.unrecognised.append(path)
    return found


def _is_page_kind(text: str) -> TypeGuard[PageKind]:
    return text in ("list", "get")
