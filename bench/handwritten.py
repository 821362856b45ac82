"""Hand-written mappings: what a careful engineer would code per vendor, as fast as plain Python goes.

They produce exactly the samples the WHOOP and Oura specs produce (the benchmark checks that),
including the same validation: type checks, range checks, unit conversion with float tidying,
dedup-key escaping and the skip rules. Warnings are not collected; the benchmark data has none.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

_fromiso = datetime.fromisoformat
_ZONES: dict[str, timezone] = {}


def _zone(text: object) -> timezone | None:
    zone = _ZONES.get(text)  # type: ignore[arg-type]
    if zone is None and isinstance(text, str) and len(text) == 6 and text[0] in "+-" and text[3] == ":":
        try:
            minutes = int(text[1:3]) * 60 + int(text[4:6])
        except ValueError:
            return None
        if minutes > 18 * 60:
            return None
        zone = UTC if minutes == 0 else timezone(timedelta(minutes=-minutes if text[0] == "-" else minutes))
        _ZONES[text] = zone
    return zone


def _utc_text(moment: datetime) -> str:
    micro = moment.microsecond
    naive = moment.replace(tzinfo=None)
    if micro == 0:
        return naive.isoformat() + "Z"
    if micro % 1000 == 0:
        return naive.isoformat(timespec="milliseconds") + "Z"
    return naive.isoformat(timespec="microseconds") + "Z"


def _parse(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return _fromiso(text)
    except ValueError:
        return None


def _esc(text: str) -> str:
    if "%" in text:
        text = text.replace("%", "%25")
    if "|" in text:
        text = text.replace("|", "%7C")
    return text


def _seconds(milli: object) -> int | float | None:
    """ms -> s, tidied, None when absent or unusable (an optional field is then dropped)."""
    if milli is None or isinstance(milli, bool) or not isinstance(milli, (int, float)):
        return None
    value = round(milli * 0.001, 6)
    if not math.isfinite(value):
        return None
    value = int(value) if value.is_integer() else value
    return value if 0 <= value <= 86400 else None


def _number(raw: object, low: float, high: float) -> int | float | None:
    if raw is None or isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return None
    if isinstance(raw, float):
        if not math.isfinite(raw):
            return None
        raw = round(raw, 6)
        raw = int(raw) if raw.is_integer() else raw
    return raw if low <= raw <= high else None


def _record_id(raw: object) -> str | None:
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, (str, int)):
        return str(raw)
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return None


def _local(moment: datetime, zone: timezone | None) -> tuple[datetime, int | None, str]:
    """UTC instant, local offset in minutes (None when unknown) and local date of a parsed time."""
    if moment.tzinfo is None:
        if zone is None:
            utc = moment.replace(tzinfo=UTC)
            return utc, None, utc.date().isoformat()
        delta = zone.utcoffset(None)
        utc = (moment - delta).replace(tzinfo=UTC)
    else:
        delta = zone.utcoffset(None) if zone is not None else moment.utcoffset()
        utc = moment.astimezone(UTC)
    return utc, int(delta.total_seconds() // 60), (utc + delta).date().isoformat()


def whoop_sleep(records: list, user_id: str) -> list[dict]:
    samples: list[dict] = []
    append = samples.append
    prefix = _esc(user_id) + "|whoop|sleep|"
    for record in records:
        if not isinstance(record, dict) or record.get("score_state") != "SCORED":
            continue
        rid = _record_id(record.get("id"))
        ident = _esc(rid) if rid is not None else None
        zone = _zone(record.get("timezone_offset"))
        start = _parse(record.get("start"))
        end = _parse(record.get("end"))
        end_at = _local(end, zone) if end is not None else None
        updated = _parse(record.get("updated_at"))
        if updated is not None:
            updated = _utc_text(updated.astimezone(UTC) if updated.tzinfo else updated)
        score = record.get("score")
        score = score if isinstance(score, dict) else {}
        stages = score.get("stage_summary")
        stages = stages if isinstance(stages, dict) else {}
        if start is not None:
            utc, offset_min, day = _local(start, zone)
            start_text = _utc_text(utc)
            session = {"user_id": user_id, "source": "whoop", "sample_type": "sleep_session",
                       "timestamp_utc": start_text}
            if end_at is not None:
                session["end_utc"] = _utc_text(end_at[0])
            if end_at is None or end_at[0] >= utc:
                session["tz_offset_min"] = offset_min
                session["local_date"] = day
                light = stages.get("total_light_sleep_time_milli")
                deep = stages.get("total_slow_wave_sleep_time_milli")
                rem = stages.get("total_rem_sleep_time_milli")
                for name, milli in (("in_bed_s", stages.get("total_in_bed_time_milli")),
                                    ("awake_s", stages.get("total_awake_time_milli")),
                                    ("light_s", light), ("deep_s", deep), ("rem_s", rem)):
                    value = _seconds(milli)
                    if value is not None:
                        session[name] = value
                present = [v for v in (light, deep, rem)
                           if isinstance(v, (int, float)) and not isinstance(v, bool)]
                if present:
                    value = _seconds(sum(present))
                    if value is not None:
                        session["asleep_s"] = value
                efficiency = _number(score.get("sleep_efficiency_percentage"), 0, 100)
                if efficiency is not None:
                    session["efficiency_pct"] = efficiency
                nap = record.get("nap")
                if isinstance(nap, bool):
                    session["is_nap"] = nap
                meta = {}
                for name, value in (("cycle_id", record.get("cycle_id")),
                                    ("sleep_cycle_count", stages.get("sleep_cycle_count")),
                                    ("disturbance_count", stages.get("disturbance_count"))):
                    if value is not None:
                        meta[name] = value
                session["device"] = None
                session["provenance"] = {"resource": "sleep", "vendor_record_id": rid,
                                         "vendor_updated_at": updated}
                session["deleted"] = False
                session["meta"] = meta
                session["dedup_key"] = prefix + "sleep_session|" + (ident or start_text)
                append(session)
        if end_at is None:
            continue
        end_text = _utc_text(end_at[0])
        rate = _number(score.get("respiratory_rate"), 2, 60)
        if rate is not None:
            append({"user_id": user_id, "source": "whoop", "sample_type": "respiratory_rate",
                    "timestamp_utc": end_text, "tz_offset_min": end_at[1], "local_date": end_at[2],
                    "brpm": rate, "device": None,
                    "provenance": {"resource": "sleep", "vendor_record_id": rid,
                                   "vendor_updated_at": updated},
                    "deleted": False, "meta": {},
                    "dedup_key": prefix + "respiratory_rate|" + (ident or end_text)})
        performance = _number(score.get("sleep_performance_percentage"), 0, 1000)
        if performance is not None:
            append({"user_id": user_id, "source": "whoop", "sample_type": "vendor_score",
                    "timestamp_utc": end_text, "tz_offset_min": end_at[1], "local_date": end_at[2],
                    "kind": "sleep_performance", "score": performance, "scale_max": 100,
                    "device": None,
                    "provenance": {"resource": "sleep", "vendor_record_id": rid,
                                   "vendor_updated_at": updated},
                    "deleted": False, "meta": {},
                    "dedup_key": prefix + "vendor_score|" + (ident or end_text)})
    return samples


def oura_heart_rate(records: list, user_id: str) -> list[dict]:
    samples: list[dict] = []
    append = samples.append
    user_key = _esc(user_id) + "|oura|heartrate|heart_rate|"
    for record in records:
        if not isinstance(record, dict):
            continue
        moment = _parse(record.get("timestamp"))
        if moment is None:
            continue
        bpm = _number(record.get("bpm"), 20, 250)
        if bpm is None:
            continue
        if moment.tzinfo is None:
            offset_min = None
            moment_utc = moment.replace(tzinfo=UTC)
            day = moment_utc.date().isoformat()
        else:
            delta = moment.utcoffset()
            offset_min = int(delta.total_seconds() // 60)
            moment_utc = moment.astimezone(UTC)
            day = (moment_utc + delta).date().isoformat()
        text = _utc_text(moment_utc)
        sample = {
            "user_id": user_id, "source": "oura", "sample_type": "heart_rate",
            "timestamp_utc": text, "tz_offset_min": offset_min, "local_date": day, "bpm": bpm,
        }
        context = record.get("source")
        if isinstance(context, str):
            sample["context"] = context
        sample["device"] = None
        sample["provenance"] = {"resource": "heartrate", "vendor_record_id": None, "vendor_updated_at": None}
        sample["deleted"] = False
        sample["meta"] = {}
        sample["dedup_key"] = user_key + _esc(text)
        append(sample)
    return samples
