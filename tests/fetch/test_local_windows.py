"""Window bounds rendered as the user's wall-clock time (`window.local`, a civil-time filter):
hand-computed bounds for a user at UTC+9, across both DST changes, after a move, with no zone
known yet, and the spec checks that refuse a local window with an offset format or no zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from engine.fetch.windows import TimeWindow, window_values
from engine.mapping.timefmt import fixed_zone
from engine.mapping.zones import ZoneEntry, ZoneHistory
from engine.spec.model import Window
from tests.spec.helpers import REPO_ROOT, run_validate_json

CIVIL = Window(max_s=30 * 86400, format="%Y-%m-%dT%H:%M:%S", local=True)
SINCE = datetime(2024, 1, 1, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def history(*entries: tuple[datetime, object]) -> ZoneHistory:
    return ZoneHistory(ZoneEntry(since, zone, "connection", str(zone)) for since, zone in entries)  # type: ignore[arg-type]


def bounds(tw: TimeWindow, zones: ZoneHistory | None, window: Window = CIVIL) -> tuple[str, str]:
    values = window_values(tw, window, zones)
    return values["window.start"], values["window.end"]


TOKYO = history((SINCE, ZoneInfo("Asia/Tokyo")))


def test_the_window_for_a_local_day_at_utc_plus_9_holds_its_8_am_workout():
    # Local day 2024-06-02 in Tokyo (+09:00, no DST) is [2024-06-01T15:00Z, 2024-06-02T15:00Z).
    day = TimeWindow(utc(2024, 6, 1, 15), utc(2024, 6, 2, 15))
    start, end = bounds(day, TOKYO)
    assert (start, end) == ("2024-06-02T00:00:00", "2024-06-03T00:00:00")
    # Workouts starting 08:00 and 20:00 local on that day (23:00Z the day before, 11:00Z) are
    # inside the bounds of the window that holds their instants...
    assert start <= "2024-06-02T08:00:00" < end and start <= "2024-06-02T20:00:00" < end
    # ...where the same window written on the UTC clock would have lost the evening one to a
    # window that does not hold its instant.
    utc_clock = bounds(day, TOKYO, Window(max_s=CIVIL.max_s, format=CIVIL.format))
    assert utc_clock == ("2024-06-01T15:00:00", "2024-06-02T15:00:00")
    assert not utc_clock[0] <= "2024-06-02T20:00:00" < utc_clock[1]


def test_a_notified_interval_is_written_on_the_users_clock():
    # The notification names the physical (UTC) interval 23:00Z-23:45:01Z on 2024-06-01.
    tw = TimeWindow(utc(2024, 6, 1, 23), utc(2024, 6, 1, 23, 45, 1))
    assert bounds(tw, TOKYO) == ("2024-06-02T08:00:00", "2024-06-02T08:45:01")


def test_a_dst_change_inside_the_window_loses_no_local_time():
    new_york = history((SINCE, ZoneInfo("America/New_York")))
    # Spring forward on 2024-03-10 (-05:00 -> -04:00). The local day is
    # [05:00Z, next day 04:00Z): start 05:00 - 5 h = 00:00, end 04:00 - 4 h = 00:00.
    spring = TimeWindow(utc(2024, 3, 10, 5), utc(2024, 3, 11, 4))
    assert bounds(spring, new_york) == ("2024-03-10T00:00:00", "2024-03-11T00:00:00")
    # Fall back on 2024-11-03 (-04:00 -> -05:00): 01:00-02:00 happens twice. The start takes the
    # smallest offset (04:00Z - 5 h = 23:00 the day before), the end the largest
    # (05:00Z - 4 h = 01:00): every local time of the day is inside, the extra hours are re-read.
    fall = TimeWindow(utc(2024, 11, 3, 4), utc(2024, 11, 4, 5))
    assert bounds(fall, new_york) == ("2024-11-02T23:00:00", "2024-11-04T01:00:00")


def test_a_move_inside_the_window_widens_it_by_both_zones():
    # In Tokyo (+09:00) until 2024-06-10T00:00Z, then in Lisbon (WEST, +01:00).
    moved = history((SINCE, ZoneInfo("Asia/Tokyo")), (utc(2024, 6, 10), ZoneInfo("Europe/Lisbon")))
    tw = TimeWindow(utc(2024, 6, 9), utc(2024, 6, 11))
    # Start 2024-06-09T00:00Z + 1 h (the smallest offset), end 2024-06-11T00:00Z + 9 h.
    assert bounds(tw, moved) == ("2024-06-09T01:00:00", "2024-06-11T09:00:00")


def test_a_fixed_offset_from_records_is_applied_as_is():
    minus_five = history((SINCE, fixed_zone(-300)))
    tw = TimeWindow(utc(2024, 6, 1, 12), utc(2024, 6, 2, 12))
    assert bounds(tw, minus_five) == ("2024-06-01T07:00:00", "2024-06-02T07:00:00")


def test_without_a_known_zone_the_bounds_cover_every_zone_in_use():
    # Offsets in use run from -12:00 to +14:00: start 12:00Z - 12 h, end 13:00Z + 14 h.
    tw = TimeWindow(utc(2024, 6, 1, 12), utc(2024, 6, 1, 13))
    assert bounds(tw, None) == ("2024-06-01T00:00:00", "2024-06-02T03:00:00")
    assert bounds(tw, ZoneHistory([])) == ("2024-06-01T00:00:00", "2024-06-02T03:00:00")


def test_a_window_not_local_is_still_written_in_utc():
    tw = TimeWindow(utc(2024, 6, 1, 15), utc(2024, 6, 2, 15))
    plain = Window(max_s=86400, format="%Y-%m-%dT%H:%M:%S")
    assert bounds(tw, TOKYO, plain) == ("2024-06-01T15:00:00", "2024-06-02T15:00:00")


def _variant(tmp_path: Path, text: str) -> str:
    path = tmp_path / "google_health.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_validate_refuses_a_local_window_with_an_offset_format(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    text = (REPO_ROOT / "vendors" / "google_health.yaml").read_text(encoding="utf-8")
    text = text.replace('window: {max: 30d, format: "%Y-%m-%dT%H:%M:%S", local: true}',
                        "window: {max: 30d, format: iso, local: true}")
    status, issues = run_validate_json(capsys, _variant(tmp_path, text))
    assert status == 1
    assert [(i["code"], i["line"]) for i in issues] == [
        ("window.local_format", _line_of(text, "format: iso, local: true"))]


def test_validate_refuses_a_local_window_without_a_zone_source(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    text = (REPO_ROOT / "vendors" / "google_health.yaml").read_text(encoding="utf-8")
    text = re.sub(r"\ntime_zone:\n(  .*\n)+", "\n", text)
    assert "time_zone" not in text
    status, issues = run_validate_json(capsys, _variant(tmp_path, text))
    assert status == 1
    assert [(i["code"], i["line"]) for i in issues] == [
        ("window.local_no_zone", _line_of(text, "local: true"))]
