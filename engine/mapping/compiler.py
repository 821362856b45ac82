"""A resource's sample mappings compiled once: `compile_resource_mapper` and the records of a
vendor response (`page_records`).

Each mapping is a `SampleMapper` (`engine.mapping.sample_mapper`); a resource whose mappings
allow it also gets a generated fast loop (`engine.mapping.codegen`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from engine.mapping.codegen import generate
from engine.mapping.result import MappingError, MapResult, MapWarning, PayloadError
from engine.mapping.sample_mapper import SampleMapper
from engine.mapping.zones import ZoneHistory
from engine.spec.catalogue import CATALOGUE, Catalogue
from engine.spec.model import Resource, Spec


class ResourceMapper:
    """All sample mappings of one resource, compiled."""

    __slots__ = ("_fast", "mappers", "resource", "source")

    def __init__(self, source: str, resource: str, mappers: tuple[SampleMapper, ...]) -> None:
        self.source = source
        self.resource = resource
        self.mappers = mappers
        self._fast = generate(mappers)

    def map_record(self, record: Any, user_id: str, zones: ZoneHistory | None = None) -> MapResult:
        result = MapResult()
        self._map_into(record, user_id, result, zones)
        return result

    def map_records(self, records: Iterable[Any], user_id: str,
                    zones: ZoneHistory | None = None) -> MapResult:
        """Map records of this resource; ``zones`` is the connection's zone history, for local
        times (without it they have no zone but their own)."""
        result = MapResult()
        zones = zones or None
        if self._fast is not None:
            # Generated code maps well-formed records; any other record is handed back to
            # `_map_into`, which reports its warnings exactly as without the fast path.
            self._fast(records, user_id, result.samples,
                       lambda record: self._map_into(record, user_id, result, zones), zones)
            return result
        for record in records:
            self._map_into(record, user_id, result, zones)
        return result

    def _map_into(self, record: Any, user_id: str, result: MapResult,
                  zones: ZoneHistory | None = None) -> None:
        if not isinstance(record, dict):
            result.warnings.append(MapWarning(self.resource, "*", None, "record.not_object",
                                              f"expected a JSON object, got {type(record).__name__}"))
            return
        for mapper in self.mappers:
            mapper.map_into(record, user_id, result, zones)


def _resource(spec: Spec, resource_name: str) -> Resource:
    resource = spec.resources.get(resource_name)
    if resource is None:
        known = ", ".join(sorted(spec.resources)) or "none"
        raise MappingError(f"{spec.id} has no resource {resource_name!r}; known: {known}")
    return resource


def compile_resource_mapper(spec: Spec, resource_name: str,
                            catalogue: Catalogue = CATALOGUE) -> ResourceMapper:
    """Compile a resource's sample mappings once; hold on to the result on hot paths."""
    resource = _resource(spec, resource_name)
    mappers = tuple(SampleMapper(spec.id, resource.name, m, catalogue) for m in resource.samples)
    return ResourceMapper(spec.id, resource.name, mappers)


PageKind = Literal["list", "get"]


def page_records(resource: Resource, page: Any, as_: PageKind | None = None) -> list[Any]:
    """The records in a vendor response: a list page via ``list.records`` or one ``get`` record.

    Without ``as_``, a list page is assumed when the ``records`` path yields an array.
    """
    if as_ not in (None, "list", "get"):
        raise ValueError(f"as_ must be 'list', 'get' or None, not {as_!r}")
    if as_ != "get" and resource.list is not None:
        records = resource.list.records.search(page)
        if isinstance(records, list):
            return records
        if as_ == "list":
            raise PayloadError(
                f"not a list page of {resource.name}: {resource.list.records.text!r} is not an array")
    elif as_ == "list":
        raise PayloadError(f"{resource.name} has no list endpoint")
    record = page
    if resource.get is not None and resource.get.record is not None:
        record = resource.get.record.search(page)
    if not isinstance(record, dict):
        raise PayloadError(f"not a {resource.name} record: expected a JSON object")
    return [record]


def map_page(spec: Spec, resource: str, page_json: Any, user_id: str,
             as_: PageKind | None = None, zones: ZoneHistory | None = None) -> MapResult:
    """Map a decoded vendor response (list page or single record) of ``resource``."""
    mapper = compile_resource_mapper(spec, resource)
    records = page_records(_resource(spec, resource), page_json, as_)
    return mapper.map_records(records, user_id, zones)
