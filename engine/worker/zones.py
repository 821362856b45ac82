"""Keeping each connection's time zone: read from the vendor's identity/profile call (at connect,
on the next poll of a connection that has none, and on demand for all), from records that carry
an offset, and from the app at connect time; loaded as a `ZoneHistory` for mapping.

Which zone wins follows the spec's `time_zone` order: when a source listed before `app` has ever
answered, the app's zone is not used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from engine.auth.vendor_calls import call_json
from engine.context import EngineContext
from engine.errors import EngineError
from engine.http import spec_values
from engine.mapping.timefmt import time_parser
from engine.mapping.zones import ZoneHistory, ranked_history, read_zone, zone_name
from engine.spec.model import Spec, ZoneSource
from engine.store.port import Connection, Store

log = logging.getLogger("engine.zones")


async def load_zones(store: Store, spec: Spec, user_id: str) -> ZoneHistory | None:
    """The connection's zone history as the spec ranks its sources; None without any zone."""
    if not spec.time_zone:
        return None
    return ranked_history(spec.time_zone, await store.zone_history(spec.id, user_id))


async def record_app_zone(store: Store, spec: Spec, user_id: str, tz: str, *, now: float) -> None:
    """The IANA zone the app passed at connect time (`?tz=`), checked by the caller."""
    if any(source.kind == "app" for source in spec.time_zone):
        await store.record_zone(spec.id, user_id, zone=tz, origin="app", since=now, now=now)


async def refresh_identity_zone(engine: EngineContext, spec: Spec, connection: Connection) -> str | None:
    """Read the zone from the first identity source that gives one and record it; its name."""
    if not connection.access_token:
        return None
    bodies: dict[int, Any] = {}
    for source in spec.time_zone:
        if source.kind != "identity" or source.path is None:
            continue
        request = source.request or (spec.auth.identity.request if spec.auth.identity else None)
        if request is None:
            continue
        key = id(request)
        if key not in bodies:
            try:
                bodies[key] = await call_json(engine.http, spec, request,
                                              spec_values(spec, access_token=connection.access_token),
                                              what="time zone")
            except EngineError as error:
                log.info("time zone not read", extra={"vendor": spec.id, "user": connection.user_id,
                                                      "error": error.message})
                bodies[key] = None
        zone = read_zone(source.path.search(bodies[key]), source.format) if bodies[key] is not None else None
        if zone is not None:
            name = zone_name(zone)
            now = engine.clock()
            await engine.store.record_zone(spec.id, connection.user_id, zone=name, origin="connection",
                                           since=now, now=now)
            return name
    return None


def record_sources(spec: Spec, resource: str) -> list[ZoneSource]:
    return [s for s in spec.time_zone if s.kind == "records" and s.resource == resource]


def zones_in_records(sources: list[ZoneSource], records: Iterable[Any]) -> list[tuple[float, str]]:
    """(in force since, zone) read off records that carry one (a local time at that offset)."""
    found: list[tuple[float, str]] = []
    for source in sources:
        if source.path is None or source.at is None:
            continue
        parse = time_parser(source.at.format)
        for record in records:
            if not isinstance(record, dict):
                continue
            zone = read_zone(source.path.search(record), source.format)
            raw = source.at.path.search(record)
            moment = parse(raw) if raw is not None else None
            if zone is None or moment is None:
                continue
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
            found.append((moment.timestamp(), zone_name(zone)))
    found.sort()
    return found


async def note_record_zones(store: Store, spec: Spec, user_id: str, found: list[tuple[float, str]]) -> None:
    for since, name in found:
        await store.record_zone(spec.id, user_id, zone=name, origin="connection", since=since)


async def needs_zone(store: Store, spec: Spec, user_id: str) -> bool:
    """Whether the spec reads a zone from identity and the connection has none from the vendor."""
    if not any(source.kind == "identity" for source in spec.time_zone):
        return False
    rows = await store.zone_history(spec.id, user_id)
    return not any(origin == "connection" for _, _, origin in rows)


def install_zone_tracking(engine: EngineContext) -> None:
    """Read the vendor's zone of every new connection once it is stored."""

    async def on_connected(spec: Spec, connection: Connection) -> None:
        if any(source.kind == "identity" for source in spec.time_zone):
            await refresh_identity_zone(engine, spec, connection)

    engine.oauth.on_connected(on_connected)
