"""Packed payloads: what the columns already say is left out of the stored text and put back on
reading, so the document read is the document written, key order included."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from engine.store import SampleRecord
from engine.store.codec import dump_payload, to_micros
from engine.store.records import SampleProvenance
from engine.store.sample_payload import PACKED, pack, unpack, utc_text
from engine.store.sql.sample_changes import _Changes
from engine.store.sql.samples import sample_rows, stored_sample

SLEEP = {
    "user_id": "user-0000", "source": "whoop", "sample_type": "sleep_session",
    "timestamp_utc": "2024-01-01T03:43:00Z", "end_utc": "2024-01-01T12:49:21.901Z",
    "tz_offset_min": -300, "tz_source": "record", "local_date": "2023-12-31", "in_bed_s": 32781.901,
    "asleep_s": 29503.711, "is_nap": False, "device": None,
    "provenance": {"resource": "sleep", "vendor_record_id": "1027c4d1-c386-4bc4-8d61-3e30d8f16adf",
                   "vendor_updated_at": "2024-01-01T12:58:22.162Z"},
    "deleted": False, "meta": {"cycle_id": 21000000},
    "dedup_key": "user-0000|whoop|sleep|sleep_session|1027c4d1-c386-4bc4-8d61-3e30d8f16adf",
}


def record(payload: dict[str, Any], **changes: Any) -> SampleRecord:
    return SampleRecord.from_sample({**payload, **changes}, payload["dedup_key"])


def round_trip(sample: SampleRecord) -> tuple[str, Any]:
    (row,) = sample_rows([sample], at=1.0)
    return row[10], stored_sample(row).payload


def test_a_mapped_sample_is_stored_without_what_its_columns_say() -> None:
    stored, read = round_trip(record(SLEEP))
    assert stored.startswith(PACKED)
    body = json.loads(stored[1:])
    # By hand: the key, both times, the dedup key and the record's resource and id are columns.
    assert list(body) == ["tz_offset_min", "tz_source", "local_date", "in_bed_s", "asleep_s", "is_nap",
                          "device", "provenance", "deleted", "meta"]
    assert body["provenance"] == ["2024-01-01T12:58:22.162Z"]
    assert len(stored) < len(dump_payload(SLEEP)) / 2
    assert dump_payload(read) == dump_payload(SLEEP)  # the same text: values and key order


def test_payloads_that_do_not_follow_the_columns_are_stored_as_they_are() -> None:
    reordered = {"source": SLEEP["source"], **SLEEP}
    odd_time = {**SLEEP, "timestamp_utc": "2024-01-01T03:43:00.000Z"}  # same instant, other text
    other_record = {**SLEEP, "provenance": {**SLEEP["provenance"], "vendor_record_id": "elsewhere"}}
    leading = ("user-0000", "whoop", "sleep_session", SLEEP["dedup_key"],
               to_micros(datetime(2024, 1, 1, 3, 43, tzinfo=UTC)),
               to_micros(datetime(2024, 1, 1, 12, 49, 21, 901000, tzinfo=UTC)), 0, None, "sleep",
               "1027c4d1-c386-4bc4-8d61-3e30d8f16adf")
    for payload in (reordered, odd_time, other_record):
        assert dump_payload(unpack(pack(payload, leading), leading)) == dump_payload(payload)
    assert pack(reordered, leading) == dump_payload(reordered)
    assert pack(odd_time, leading) == dump_payload(odd_time)
    # The provenance names another record: it is kept whole, the rest is still packed.
    assert json.loads(pack(other_record, leading)[1:])["provenance"] == other_record["provenance"]


def test_a_version_moved_by_a_tombstone_does_not_change_the_document() -> None:
    (row,) = sample_rows([record(SLEEP)], at=1.0)
    tombstoned = (*row[:7], to_micros(datetime(2030, 1, 1, tzinfo=UTC)), *row[8:])
    assert stored_sample(tombstoned).payload["provenance"] == SLEEP["provenance"]


def test_utc_text_writes_only_the_digits_present() -> None:
    assert utc_text(0) == "1970-01-01T00:00:00Z"
    assert utc_text(1_500_000) == "1970-01-01T00:00:01.500Z"
    assert utc_text(1_000_001) == "1970-01-01T00:00:01.000001Z"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)


@st.composite
def any_sleep_payload(draw: st.DrawFn) -> tuple[dict[str, Any], SampleRecord]:
    """A sleep payload that may or may not follow its columns, and its sample record."""
    times = ("timestamp_utc", "end_utc")  # the record's times must stay times
    extra = draw(st.dictionaries(st.text(max_size=10).filter(lambda key: key not in times), json_values,
                                 max_size=6))
    provenance = draw(json_values | st.just(SLEEP["provenance"]) | st.just(["x"]))
    dedup = draw(st.sampled_from([SLEEP["dedup_key"], "other"]))
    end = draw(st.sampled_from([SLEEP["end_utc"], None]))
    payload = {key: value for key, value in SLEEP.items() if key not in ("end_utc", "dedup_key")}
    if end is not None:
        payload = {**{k: payload[k] for k in list(payload)[:4]}, "end_utc": end, **payload}
    payload = {**payload, **extra, "provenance": provenance, "dedup_key": dedup}
    sample = SampleRecord.from_sample(payload | {"provenance": SLEEP["provenance"]}, SLEEP["dedup_key"])
    sample = SampleRecord(sample.user_id, sample.source, sample.sample_type, sample.dedup_id,
                          sample.timestamp_utc, payload, end_utc=sample.end_utc, resource="sleep",
                          vendor_record_id=SLEEP["provenance"]["vendor_record_id"])
    return payload, sample


@given(any_sleep_payload())
def test_any_payload_reads_back_as_written(drawn: tuple[dict[str, Any], SampleRecord]) -> None:
    payload, sample = drawn
    _, read = round_trip(sample)
    written = dict(payload)
    written["deleted"] = False  # the column says it on reading
    assert dump_payload(read) == dump_payload(written)


def test_documents_orjson_does_not_read_still_read_back() -> None:
    big = {**SLEEP, "meta": {"counter": 2**70, "low": -(2**63) - 1}}  # past 64 bits
    surrogate = {**SLEEP, "meta": {"note": "\ud800"}}  # a lone surrogate, valid JSON text
    for payload in (big, surrogate):
        _, read = round_trip(record(payload))
        assert json.dumps(read["meta"]) == json.dumps(payload["meta"])  # ints stay ints, exactly
    by_hand = '{"counter": 1180591620717411303424, "low": -9223372036854775809}'
    assert json.dumps(round_trip(record(big))[1]["meta"]) == by_hand


@given(any_sleep_payload(), st.sampled_from(["created", "updated", "deleted"]),
       st.sampled_from([None, SampleProvenance("webhook", 2, "m1", "rk", "raw1")]))
def test_an_inline_sample_made_from_the_written_payload_is_the_one_unpacked_from_its_row(
        drawn: tuple[dict[str, Any], SampleRecord], change: str, provenance: SampleProvenance | None) -> None:
    """The fast path of samples.changed (the upsert's own payloads) against the plain one (each
    row unpacked): the same event text."""
    payload, sample = drawn
    (row,) = sample_rows([sample], at=1.0)
    unpacked, given_payload = _Changes(), _Changes()
    unpacked.add(change, row, 100, provenance)
    given_payload.add(change, row, 100, provenance, document=sample.payload)
    assert (dump_payload(given_payload.payload("u", "whoop", "sleep_session"))
            == dump_payload(unpacked.payload("u", "whoop", "sleep_session")))
