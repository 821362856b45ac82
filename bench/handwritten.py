"""Hand-written mappings: what a careful engineer would code per vendor, as fast as plain Python goes.

They produce exactly the samples the WHOOP and Oura specs produce (the benchmark checks that),
including the same validation: type checks, range checks, unit conversion with float tidying,
dedup-key escaping and the skip rules. Warnings are not collected; the benchmark data has none.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

_fromiso = datetime.fromisoformat
_ZONES: dict[str, tuple[timezone, int, timedelta]] = {}


def _zone(text: object) -> tuple[timezone, int, timedelta] | None:
    """A ``+hh:mm`` offset as (zone, minutes, delta), cached per text."""
    zone = _ZONES.get(text)  # type: ignore[arg-type]
    if zone is None and isinstance(text, str) and len(text) == 6 and text[0] in "+-" and text[3] == ":":
        try:
            minutes = int(text[1:3]) * 60 + int(text[4:6])
        except ValueError:
            return None
        if minutes > 18 * 60:
            return None
        minutes = -minutes if text[0] == "-" else minutes
        delta = timedelta(minutes=minutes)
        zone = (UTC if minutes == 0 else timezone(delta), minutes, delta)
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


def _text(raw: str, moment: datetime) -> str:
    """The UTC text of an aware UTC ``moment`` parsed from ``raw``: ``raw`` itself when canonical."""
    size = len(raw)
    if raw[-1] == "Z":
        body = size - 1
    elif raw[-6:] == "+00:00":
        body = size - 6
    else:
        return _utc_text(moment)
    if (body == 19 or (body == 23 and raw[19] == ".")) and raw[4] == "-" and raw[7] == "-" \
            and raw[10] == "T" and raw[13] == ":" and raw[16] == ":":
        if body == 23 and raw[20:23] == "000":
            return raw[:19] + "Z"
        return raw if body == size - 1 else raw[:body] + "Z"
    return _utc_text(moment)


def _day(utc: datetime, text: str, minutes: int, delta: timedelta) -> str:
    """Local date: the UTC text's date unless the offset moves the time past midnight."""
    if 0 <= utc.hour * 60 + utc.minute + minutes < 1440:
        return text[:10]
    return (utc + delta).date().isoformat()


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
    kind = milli.__class__
    if kind is not int and kind is not float:
        return None
    value = round(milli * 0.001, 6)  # type: ignore[operator]
    if value.is_integer():
        value = int(value)
    return value if 0 <= value <= 86400 else None  # also rules out inf and nan


def _number(raw: object, low: float, high: float) -> int | float | None:
    kind = raw.__class__
    if kind is float:
        raw = round(raw, 6)  # type: ignore[call-overload]
        if raw.is_integer():
            raw = int(raw)
    elif kind is not int:
        return None
    return raw if low <= raw <= high else None  # also rules out inf and nan


def _record_id(raw: object) -> str | None:
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, (str, int)):
        return str(raw)
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return None


def _local(raw: str, moment: datetime, zone: tuple[timezone, int, timedelta] | None
           ) -> tuple[datetime, int | None, str, str]:
    """UTC instant, local offset in minutes (None when unknown), local date and UTC text."""
    if moment.tzinfo is UTC and zone is not None:
        text = _text(raw, moment)
        return moment, zone[1], _day(moment, text, zone[1], zone[2]), text
    if moment.tzinfo is None:
        if zone is None:
            utc = moment.replace(tzinfo=UTC)
            text = _utc_text(utc)
            return utc, None, text[:10], text
        delta = zone[2]
        utc = (moment - delta).replace(tzinfo=UTC)
    else:
        delta = zone[2] if zone is not None else moment.utcoffset()
        utc = moment.astimezone(UTC)
    return utc, int(delta.total_seconds() // 60), (utc + delta).date().isoformat(), _utc_text(utc)


def whoop_sleep(records: list, user_id: str) -> list[dict]:
    samples: list[dict] = []
    append = samples.append
    prefix = _esc(user_id) + "|whoop|sleep|"
    for record in records:
        if not isinstance(record, dict) or record.get("score_state") != "SCORED":
            continue
        raw_id = record.get("id")
        rid = raw_id if raw_id.__class__ is str else _record_id(raw_id)
        ident = _esc(rid) if rid is not None else None
        zone = _zone(record.get("timezone_offset"))
        start_raw, end_raw = record.get("start"), record.get("end")
        start = _parse(start_raw)
        end = _parse(end_raw)
        end_at = _local(end_raw, end, zone) if end is not None else None
        updated_raw = record.get("updated_at")
        updated = _parse(updated_raw)
        if updated is not None:
            updated = (_text(updated_raw, updated) if updated.tzinfo is UTC
                       else _utc_text(updated.astimezone(UTC) if updated.tzinfo else updated))
        score = record.get("score")
        score = score if isinstance(score, dict) else {}
        stages = score.get("stage_summary")
        stages = stages if isinstance(stages, dict) else {}
        if start is not None:
            utc, offset_min, day, start_text = _local(start_raw, start, zone)
            session = {"user_id": user_id, "source": "whoop", "sample_type": "sleep_session",
                       "timestamp_utc": start_text}
            if end_at is not None:
                session["end_utc"] = end_at[3]
            if end_at is None or end_at[0] >= utc:
                session["tz_offset_min"] = offset_min
                session["tz_source"] = "record"
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
        end_text = end_at[3]
        rate = _number(score.get("respiratory_rate"), 2, 60)
        if rate is not None:
            append({"user_id": user_id, "source": "whoop", "sample_type": "respiratory_rate",
                    "timestamp_utc": end_text, "tz_offset_min": end_at[1], "tz_source": "record",
                    "local_date": end_at[2],
                    "brpm": rate, "device": None,
                    "provenance": {"resource": "sleep", "vendor_record_id": rid,
                                   "vendor_updated_at": updated},
                    "deleted": False, "meta": {},
                    "dedup_key": prefix + "respiratory_rate|" + (ident or end_text)})
        performance = _number(score.get("sleep_performance_percentage"), 0, 1000)
        if performance is not None:
            append({"user_id": user_id, "source": "whoop", "sample_type": "vendor_score",
                    "timestamp_utc": end_text, "tz_offset_min": end_at[1], "tz_source": "record",
                    "local_date": end_at[2],
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
        if record.__class__ is not dict:
            continue
        raw = record.get("timestamp")
        if raw.__class__ is not str:
            continue
        try:
            moment = _fromiso(raw)
        except ValueError:
            continue
        bpm = record.get("bpm")
        kind = bpm.__class__
        if kind is float:
            bpm = round(bpm, 6)
            if bpm.is_integer():
                bpm = int(bpm)
        elif kind is not int:
            continue
        if not 20 <= bpm <= 250:
            continue
        if moment.tzinfo is UTC:
            offset_min = 0
            text = _text(raw, moment)
            day = text[:10]
        elif moment.tzinfo is None:
            offset_min = None
            text = _utc_text(moment.replace(tzinfo=UTC))
            day = text[:10]
        else:
            delta = moment.utcoffset()
            offset_min = int(delta.total_seconds() // 60)
            moment_utc = moment.astimezone(UTC)
            text = _utc_text(moment_utc)
            day = (moment_utc + delta).date().isoformat()
        key = user_key + (text if "%" not in text and "|" not in text else _esc(text))
        provenance = {"resource": "heartrate", "vendor_record_id": None, "vendor_updated_at": None}
        context = record.get("source")
        if context.__class__ is str:
            append({"user_id": user_id, "source": "oura", "sample_type": "heart_rate",
                    "timestamp_utc": text, "tz_offset_min": offset_min, "tz_source": "record",
                    "local_date": day, "bpm": bpm,
                    "context": context, "device": None, "provenance": provenance, "deleted": False,
                    "meta": {}, "dedup_key": key})
        else:
            append({"user_id": user_id, "source": "oura", "sample_type": "heart_rate",
                    "timestamp_utc": text, "tz_offset_min": offset_min, "tz_source": "record",
                    "local_date": day, "bpm": bpm,
                    "device": None, "provenance": provenance, "deleted": False,
                    "meta": {}, "dedup_key": key})
    return samples
