"""Every shipped vendor spec passes its offline contract test: its response and webhook fixtures
replay to the checked-in expectations, and together they cover every resource with samples and
every event type the spec routes."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.spec.validate import check_file
from engine.testing import run_contract

VENDORS = Path(__file__).resolve().parents[2] / "vendors"
SHIPPED = sorted(VENDORS.glob("*.yaml"))


def test_the_catalogue_is_shipped() -> None:
    assert len(SHIPPED) >= 9


@pytest.mark.parametrize("spec_path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_spec_passes_its_contract(spec_path: Path) -> None:
    report = run_contract(spec_path)

    failures = [f"{c.subject}: {c.detail}" for c in report.failures]
    assert report.ok, "\n".join(failures)
    warnings = [f"{c.subject}: {c.detail}" for c in report.checks if c.status == "warn"]
    assert not warnings, "\n".join(warnings)
    assert not report.updated

    spec = check_file(spec_path).spec
    assert spec is not None
    with_samples = {name for name, resource in spec.resources.items() if resource.samples}
    assert with_samples <= set(report.resources_covered)
    declared_events = set(spec.webhooks.routes) if spec.webhooks else set()
    assert set(report.events_covered) == declared_events


@pytest.mark.parametrize("spec_path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_spec_lines_fit_in_100_columns(spec_path: Path) -> None:
    # A long expression is folded over lines inside its double quotes (a fold reads as a space).
    long = [f"{spec_path.name}:{number}" for number, line in
            enumerate(spec_path.read_text(encoding="utf-8").splitlines(), 1) if len(line) > 100]
    assert long == []
