"""What mapping returns: the samples and every problem found on the way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Sample = dict[str, Any]  # JSON-serializable, valid against schemas/synheart-sample.schema.json


@dataclass(frozen=True, slots=True)
class MapWarning:
    """A value dropped or a sample skipped, with enough context to find the vendor record."""

    resource: str
    sample_type: str
    record_id: str | None
    code: str  # e.g. "value.out_of_range", "value.required_missing", "time.unparsable"
    message: str
    field: str | None = None

    def __str__(self) -> str:
        where = f"{self.resource}/{self.sample_type}"
        if self.record_id is not None:
            where += f" record {self.record_id}"
        if self.field is not None:
            where += f" field {self.field}"
        return f"{where}: {self.code}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "sample_type": self.sample_type,
            "record_id": self.record_id,
            "field": self.field,
            "code": self.code,
            "message": self.message,
        }


@dataclass(slots=True)
class MapResult:
    samples: list[Sample] = field(default_factory=list)
    warnings: list[MapWarning] = field(default_factory=list)

    def extend(self, other: MapResult) -> None:
        self.samples.extend(other.samples)
        self.warnings.extend(other.warnings)


class MappingError(ValueError):
    """The mapping cannot be set up (unknown resource, a field that does not fit the catalogue)."""


class PayloadError(ValueError):
    """A vendor response that cannot be read as a page or a record of the resource."""
