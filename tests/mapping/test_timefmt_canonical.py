"""Reading the UTC text off already-canonical input gives exactly what formatting gives."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.mapping.timefmt import canonical_utc_text, rfc3339_utc
from tests.examples import examples

_PIECES = st.sampled_from(["2024", "-", "03", "02", "T", " ", "05", ":", "35", "00", ".", ",", "000",
                           "120", "5", "123456", "Z", "z", "+00:00", "-00:00", "+05:30", "W09", "1", "9"])


def _check(text: str) -> None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return
    if moment.tzinfo is not UTC:
        return
    read = canonical_utc_text(text)
    if read is not None:
        assert read == rfc3339_utc(moment), text


@settings(max_examples=examples(3000), deadline=None)
@given(st.lists(_PIECES, min_size=1, max_size=14).map("".join))
@example("2024-03-02T05:35:00Z")
@example("2024-03-02T05:35:00.000Z")
@example("2024-03-02T05:35:00.120+00:00")
@example("2024-W09-6T05:35:00.120Z")
def test_canonical_text_matches_formatting(text: str) -> None:
    _check(text)


@settings(max_examples=examples(500), deadline=None)
@given(st.datetimes(timezones=st.just(UTC)), st.sampled_from(["Z", "+00:00"]),
       st.sampled_from(["seconds", "milliseconds", "microseconds", "auto"]))
def test_any_formatted_utc_moment_reads_back(moment: datetime, suffix: str, spec: str) -> None:
    text = moment.replace(tzinfo=None).isoformat(timespec=spec) + suffix
    _check(text)
    if spec == "seconds" or (spec == "milliseconds" and moment.microsecond >= 1000):
        assert canonical_utc_text(text) is not None
