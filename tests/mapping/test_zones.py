"""Local times converted with the connection's zone in force at that instant (hand-computed),
`tz_source` on every sample, the generated fast path equal to the closures with zones, and the
property over every shipped resource: a time parsed without offset has a zone source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.mapping import sample_mapper, zones
from engine.mapping.compiler import compile_resource_mapper, page_records
from engine.mapping.result import MapResult
from engine.mapping.timefmt import fixed_zone
from engine.mapping.zones import ZoneEntry, ZoneHistory, read_zone, resolve, zone_name
from engine.spec.compile_zones import mapping_local_times
from tests.examples import examples
from tests.mapping.helpers import VENDORS, fixture, fixture_paths, shipped_spec
from tests.mapping.test_generated_fast_path import CASES, _compiled, _mutate, odd_values

USER = "u-1"
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")
HELSINKI = ZoneInfo("Europe/Helsinki")


def _history(*entries: tuple[str, str, str]) -> ZoneHistory:
    return ZoneHistory(ZoneEntry(datetime.fromisoformat(since), zones.parse_zone_text(name) or UTC,
                                 origin, name) for since, name, origin in entries)


def test_a_local_time_takes_the_zone_in_force_dst_correct():
    history = _history(("2024-01-01T00:00:00+00:00", "America/New_York", "connection"))
    # Winter: EST, -05:00. Summer: EDT, -04:00 (DST began 2024-03-10 02:00 local).
    assert resolve(datetime(2024, 3, 9, 12, 0), None, True, history)[:2] == (
        datetime(2024, 3, 9, 17, 0, tzinfo=UTC), -300)
    assert resolve(datetime(2024, 3, 10, 12, 0), None, True, history)[:2] == (
        datetime(2024, 3, 10, 16, 0, tzinfo=UTC), -240)
    # 01:30 on 2024-11-03 happens twice; the first (EDT) is taken, as zoneinfo's fold=0 does.
    utc, minutes, source = resolve(datetime(2024, 11, 3, 1, 30), None, True, history)
    assert (utc, minutes, source) == (datetime(2024, 11, 3, 5, 30, tzinfo=UTC), -240, "connection")


def test_travel_history_uses_the_zone_of_each_instant():
    history = _history(("2024-05-01T00:00:00+00:00", "America/New_York", "app"),
                       ("2024-06-10T08:00:00+00:00", "Europe/Helsinki", "connection"))
    # Before the trip: New York (EDT -4). After it: Helsinki (EEST +3).
    assert resolve(datetime(2024, 6, 9, 22, 0), None, True, history) == (
        datetime(2024, 6, 10, 2, 0, tzinfo=UTC), -240, "app")
    assert resolve(datetime(2024, 6, 11, 7, 0), None, True, history) == (
        datetime(2024, 6, 11, 4, 0, tzinfo=UTC), 180, "connection")
    # Before the first entry, the first zone is assumed (a backfill of older data).
    assert resolve(datetime(2024, 1, 15, 9, 0), None, True, history)[1] == -300
    # An epoch instant (no local offset of its own) gets the zone's offset at that instant.
    assert resolve(datetime(2024, 6, 12, 0, 0, tzinfo=UTC), None, False, history) == (
        datetime(2024, 6, 12, 0, 0, tzinfo=UTC), 180, "connection")


def test_the_record_offset_wins_and_no_zone_says_unknown():
    history = _history(("2024-01-01T00:00:00+00:00", "Europe/Helsinki", "connection"))
    naive = datetime(2024, 6, 2, 8, 0)
    assert resolve(naive, fixed_zone(-420), True, history) == (
        datetime(2024, 6, 2, 15, 0, tzinfo=UTC), -420, "record")
    aware = datetime(2024, 6, 2, 8, 0, tzinfo=fixed_zone(120))
    assert resolve(aware, None, True, history) == (datetime(2024, 6, 2, 6, 0, tzinfo=UTC), 120, "record")
    assert resolve(naive, None, True, None) == (datetime(2024, 6, 2, 8, 0, tzinfo=UTC), None, "unknown")
    assert resolve(naive, None, True, ZoneHistory(())) [2] == "unknown"


def test_zone_text_round_trips_and_vendor_formats_read():
    assert zone_name(HELSINKI) == "Europe/Helsinki"
    assert zone_name(fixed_zone(330)) == "+05:30"
    assert zone_name(fixed_zone(-210)) == "-03:30"
    assert zones.parse_zone_text("-03:30") == fixed_zone(-210)
    assert read_zone(7_200_000, "milliseconds") == fixed_zone(120)  # Fitbit offsetFromUTCMillis
    assert read_zone(-18_000_000, "milliseconds") == fixed_zone(-300)
    assert read_zone(True, "milliseconds") is None
    assert read_zone(180, "minutes") == fixed_zone(180)  # Polar start_time_utc_offset
    assert read_zone("Not/AZone", "iana") is None


def test_polar_continuous_heart_rate_is_device_local_time():
    # Polar: sample_time "HH:mm:ss ... device time". 2024-06-02 00:05:00 in Helsinki (EEST, +03:00)
    # is 2024-06-01T21:05:00Z; before, it was stored as 2024-06-02T00:05:00Z.
    spec = shipped_spec("polar")
    mapper = compile_resource_mapper(spec, "continuous_heart_rate")
    records = page_records(spec.resources["continuous_heart_rate"],
                           fixture("polar", "continuous_heart_rate.list"), "list")
    history = _history(("2024-05-20T06:00:00+00:00", "+03:00", "connection"))
    samples = mapper.map_records(records, USER, history).samples
    second = samples[1]
    assert (second["timestamp_utc"], second["tz_offset_min"], second["tz_source"]) == (
        "2024-06-01T21:05:00Z", 180, "connection")
    assert second["local_date"] == "2024-06-02"
    unknown = mapper.map_records(records, USER).samples[1]
    assert (unknown["timestamp_utc"], unknown["tz_offset_min"], unknown["tz_source"]) == (
        "2024-06-02T00:05:00Z", None, "unknown")


def test_fitbit_sleep_uses_the_profile_zone():
    spec = shipped_spec("fitbit")
    mapper = compile_resource_mapper(spec, "sleep")
    records = page_records(spec.resources["sleep"], fixture("fitbit", "sleep.list"), "list")
    history = _history(("2024-05-01T00:00:00+00:00", "America/New_York", "connection"))
    session = next(s for s in mapper.map_records(records, USER, history).samples
                   if s["sample_type"] == "sleep_session")
    start = records[0]["startTime"]  # user-local, no offset
    expected = datetime.fromisoformat(start).replace(tzinfo=NEW_YORK).astimezone(UTC)
    assert session["timestamp_utc"].startswith(expected.strftime("%Y-%m-%dT%H:%M:%S"))
    assert session["tz_offset_min"] == -240 and session["tz_source"] == "connection"


_HISTORIES = st.sampled_from([
    None,
    _history(("2024-01-01T00:00:00+00:00", "America/New_York", "connection")),
    _history(("2020-01-01T00:00:00+00:00", "+05:30", "app")),
    _history(("2024-03-01T00:00:00+00:00", "Europe/Helsinki", "app"),
             ("2024-03-02T06:00:00+00:00", "America/Los_Angeles", "connection")),
])


@pytest.mark.parametrize(("vendor", "resource"), CASES)
@settings(max_examples=examples(25), deadline=None)
@given(data=st.data())
def test_fast_path_equals_closures_with_connection_zones(vendor, resource, data) -> None:
    mapper, records = _compiled(vendor, resource)
    records = [_mutate(r, data.draw) for r in records] + data.draw(st.lists(odd_values, max_size=1))
    history = data.draw(_HISTORIES)
    fast = mapper.map_records(records, USER, history)
    slow = MapResult()
    for record in records:
        mapper._map_into(record, USER, slow, history)
    assert fast.samples == slow.samples
    assert fast.warnings == slow.warnings
    assert [list(s) for s in fast.samples] == [list(s) for s in slow.samples]


def _every_resource_fixture():
    for spec_path in sorted(VENDORS.glob("*.yaml")):
        vendor = spec_path.stem
        for path in fixture_paths(vendor):
            resource, _, kind = path.stem.rpartition(".")
            yield vendor, resource, kind


@pytest.mark.parametrize(("vendor", "resource", "kind"), list(_every_resource_fixture()))
def test_every_time_parsed_without_offset_has_a_zone_source(vendor, resource, kind, monkeypatch):
    """Over every resource of every shipped spec: a time of day read without an offset or Z comes
    from a mapping that declares it local (so `validate` demands a zone source) or that has a
    record offset; and the spec then has a zone source, else it would not have loaded."""
    spec = shipped_spec(vendor)
    naive: list[datetime] = []
    real = sample_mapper.resolve

    def spy(moment, zone, own=True, history=None):
        if moment.tzinfo is None:
            naive.append(moment)
        return real(moment, zone, own, history)

    monkeypatch.setattr(sample_mapper, "resolve", spy)
    mapper = compile_resource_mapper(spec, resource)
    records = page_records(spec.resources[resource], fixture(vendor, path_name(resource, kind)), kind)
    for record in records:
        for one in mapper.mappers:
            before = len(naive)
            one.map_into(record, USER, MapResult())
            if len(naive) == before:
                continue
            mapping = one._spec
            local = mapping_local_times(mapping)
            day_only = mapping.start is not None and mapping.start.format == "date"
            assert local or mapping.tz_offset is not None or day_only or _declared_utc(mapping), (
                f"{vendor}/{resource}/{mapping.type} reads a local time the spec does not declare local")
            if local and mapping.tz_offset is None:
                assert spec.time_zone, f"{vendor} maps a local time without a zone source"


def _declared_utc(mapping) -> bool:
    return all(f is None or f.utc for f in (mapping.start, mapping.end))


def path_name(resource: str, kind: str) -> str:
    return f"{resource}.{kind}"


def test_every_sample_says_where_its_zone_came_from():
    for vendor, resource, kind in _every_resource_fixture():
        spec = shipped_spec(vendor)
        records = page_records(spec.resources[resource], fixture(vendor, path_name(resource, kind)), kind)
        for sample in compile_resource_mapper(spec, resource).map_records(records, USER).samples:
            assert sample["tz_source"] in ("record", "unknown"), (vendor, resource)
            if sample["tz_source"] == "unknown":
                assert sample["tz_offset_min"] is None


def test_the_zone_history_before_and_after_an_entry():
    history = _history(("2024-06-10T08:00:00+00:00", "Europe/Helsinki", "connection"))
    entry = history.at_instant(EPOCH)
    assert entry is not None and entry.name == "Europe/Helsinki"
    assert history.latest() == entry
    assert history.at_local(datetime(2024, 6, 10, 11, 0) - timedelta(minutes=1)) == entry
