"""Deterministic vendor-shaped records for the benchmarks (WHOOP v2 sleep, Oura heart rate).

Every record is a pure function of its index, so a server and a client can agree on the data
without sharing state, and a page can be rendered on demand instead of held in memory.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

_BASE = datetime(2024, 1, 1, tzinfo=UTC)
_OFFSETS = ("-05:00", "-08:00", "+01:00", "+05:30", "+00:00", "-03:00")
_HR_SOURCES = ("awake", "rest", "sleep", "session", "workout", "live")


def _iso_ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def whoop_sleep(index: int) -> dict:
    """One WHOOP v2 sleep record; every 10th is still pending a score, every 7th is a nap."""
    start = _BASE + timedelta(hours=20 * index, seconds=(index * 37) % 3600)
    in_bed_ms = 3_600_000 * (1 + index % 9) + (index * 1013) % 600_000
    end = start + timedelta(milliseconds=in_bed_ms)
    nap = index % 7 == 0
    record: dict = {
        "id": f"{index:08x}-5c3a-4f7e-8d21-{index * 7919 % 16**12:012x}",
        "cycle_id": 90_000 + index,
        "v1_id": None,
        "user_id": 10129,
        "created_at": _iso_ms(end + timedelta(minutes=5)),
        "updated_at": _iso_ms(end + timedelta(minutes=9, milliseconds=index % 1000)),
        "start": _iso_ms(start),
        "end": _iso_ms(end),
        "timezone_offset": _OFFSETS[index % len(_OFFSETS)],
        "nap": nap,
        "score_state": "PENDING_SCORE" if index % 10 == 9 else "SCORED",
    }
    if record["score_state"] != "SCORED":
        return record
    awake = in_bed_ms // 10
    light = in_bed_ms * 45 // 100
    deep = in_bed_ms * 20 // 100
    rem = in_bed_ms - awake - light - deep
    record["score"] = {
        "stage_summary": {
            "total_in_bed_time_milli": in_bed_ms,
            "total_awake_time_milli": awake,
            "total_no_data_time_milli": 0,
            "total_light_sleep_time_milli": light,
            "total_slow_wave_sleep_time_milli": deep,
            "total_rem_sleep_time_milli": rem,
            "sleep_cycle_count": index % 6,
            "disturbance_count": index % 13,
        },
        "sleep_needed": {
            "baseline_milli": 27_000_000,
            "need_from_sleep_debt_milli": (index * 311) % 3_000_000,
            "need_from_recent_strain_milli": (index * 97) % 1_000_000,
            "need_from_recent_nap_milli": 0,
        },
        "respiratory_rate": 12 + (index % 97) / 16,
        "sleep_performance_percentage": None if nap else 50 + index % 50,
        "sleep_consistency_percentage": None if nap else 40 + index % 60,
        "sleep_efficiency_percentage": 80 + (index % 200) / 10.25,
    }
    return record


def oura_heart_rate(index: int) -> dict:
    """One Oura heart-rate reading, five minutes apart."""
    moment = _BASE + timedelta(minutes=5 * index)
    return {
        "bpm": 45 + (index * 7) % 130,
        "source": _HR_SOURCES[index % len(_HR_SOURCES)],
        "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
    }


def whoop_sleep_page(first: int, size: int, next_token: str | None = None) -> dict:
    return {"records": [whoop_sleep(i) for i in range(first, first + size)], "next_token": next_token}


def oura_heart_rate_page(first: int, size: int, next_token: str | None = None) -> dict:
    return {"data": [oura_heart_rate(i) for i in range(first, first + size)], "next_token": next_token}


def vendor_uuid(index: int) -> str:
    """A random-looking version-4 UUID fixed by ``index`` (WHOOP's sleep ids are UUIDs)."""
    digest = hashlib.blake2b(index.to_bytes(8, "little"), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def gives_every_sample(index: int) -> bool:
    """Scored and not a nap: the record maps to all three WHOOP sleep samples."""
    return index % 10 != 9 and index % 7 != 0


class WhoopSleepPages:
    """Renders WHOOP sleep list pages as JSON bytes with one ``json.dumps`` of a template.

    The records repeat a fixed set of ``distinct`` bodies but carry unique ids, so a server can
    serve millions of records quickly while every id (and dedup key) stays distinct. With
    ``uuid_ids`` every id is a random-looking UUID (as WHOOP's are, so keys arrive in no order);
    with ``every_sample`` every record is scored and not a nap (three samples per record).
    """

    def __init__(self, total: int, page_size: int, distinct: int = 1000, *,
                 uuid_ids: bool = False, every_sample: bool = False) -> None:
        self.total = total
        self.page_size = page_size
        self.uuid_ids = uuid_ids
        sources = list(range(distinct))
        if every_sample:
            sources = [i for i in range(2 * distinct) if gives_every_sample(i)][:distinct]
        self._bodies = [json.dumps(whoop_sleep(i), separators=(",", ":")) for i in sources]
        self._ids = [whoop_sleep(i)["id"] for i in sources]

    def page(self, cursor: int) -> bytes:
        """The page starting at record ``cursor``; its ``next_token`` is the next cursor or null."""
        end = min(cursor + self.page_size, self.total)
        parts = []
        distinct = len(self._bodies)
        for index in range(cursor, end):
            slot = index % distinct
            body = self._bodies[slot]
            if self.uuid_ids:
                body = body.replace(self._ids[slot], vendor_uuid(index), 1)
            elif index >= distinct:
                body = body.replace(self._ids[slot], f"{index:08x}-5c3a-4f7e-8d21-{index:012x}", 1)
            parts.append(body)
        token = json.dumps(str(end)) if end < self.total else "null"
        return ('{"records":[' + ",".join(parts) + '],"next_token":' + token + "}").encode()
