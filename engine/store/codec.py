"""Value encodings shared by the adapters: JSON text, sample instants, ids and page cursors."""

from __future__ import annotations

import base64
import json
import math
import os
import re
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from engine.store.errors import InvalidCursor

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def dump_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_isfinite = math.isfinite


def _all_finite(value: dict[str, Any] | list[Any]) -> bool:
    item: Any  # a dict's values or a list's items (mypy does not narrow `type(x) is` in the else)
    for item in value.values() if type(value) is dict else value:
        kind = type(item)
        if kind is float:
            if not _isfinite(item):
                return False
        elif (kind is dict or kind is list) and not _all_finite(item):
            return False
    return True


def dump_payload(payload: Any) -> str:
    """`dump_json(dict(payload))`, faster. orjson writes NaN and infinities as null where the
    stdlib refuses them, and refuses what the stdlib may accept (non-string keys, huge integers,
    mappings that are not dicts); either case goes to `dump_json`, so the result or the error is
    the stdlib's."""
    if type(payload) is dict and _all_finite(payload):
        try:
            return orjson.dumps(payload, option=_PASSTHROUGH).decode()
        except TypeError:
            pass
    return dump_json(dict(payload))


def load_json(text: str | None) -> Any:
    return {} if text is None else json.loads(text)


_LONG_DIGITS = re.compile(r"[0-9]{19}")
_LONG_DIGIT_BYTES = re.compile(rb"[0-9]{19}")


def load_exact(text: str | bytes) -> Any:
    """`json.loads`, quicker. orjson reads the same documents but two kinds: integers past 64
    bits (which the stdlib encoder writes), which it reads as floats, and what it refuses (a
    lone surrogate); any run of 19 digits, or a refusal, takes the stdlib's path."""
    long_digits = (_LONG_DIGITS.search(text) if isinstance(text, str)
                   else _LONG_DIGIT_BYTES.search(text))
    if long_digits is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def to_micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("sample times must be timezone-aware")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


_id_lock = threading.Lock()
_last_id_stamp = [0, 0]  # [milliseconds, sequence within that millisecond]
_process_suffix = ""


def _draw_process_suffix() -> None:
    """One random suffix per process (drawn again in a forked child): ids made here are kept
    apart by their sequence numbers already; the suffix only keeps processes apart. Drawing it per
    id would be a system call per id, which gives up the interpreter lock on a hot path."""
    global _process_suffix
    _process_suffix = secrets.token_hex(6)


_draw_process_suffix()
os.register_at_fork(after_in_child=_draw_process_suffix)


def new_id(now: float) -> str:
    """Ids that sort by creation time: a millisecond stamp, a sequence number keeping ids made in
    this process strictly increasing, and the process's random suffix so processes never collide."""
    return new_ids(now, 1)[0]


def new_ids(now: float, count: int) -> list[str]:
    """``count`` ids as `new_id` would make them one by one."""
    if count <= 0:
        return []
    millis = int(now * 1000)
    with _id_lock:
        if millis <= _last_id_stamp[0]:
            millis = _last_id_stamp[0]
            first = _last_id_stamp[1] + 1
        else:
            first = 0
        # Past the 6-hex-digit sequence: the next millisecond, so ids keep their width and order.
        if first + count > 0x1000000:
            millis, first = millis + 1, 0
        _last_id_stamp[:] = [millis, first + count - 1]
    suffix = _process_suffix
    prefix = f"{millis:012x}"
    return [f"{prefix}{sequence:06x}{suffix}" for sequence in range(first, first + count)]


_seq_lock = threading.Lock()
_last_seq_stamp = [0, 0]  # [milliseconds since 2020, sequence within that millisecond]
_SEQ_EPOCH_MS = 1_577_836_800_000  # 2020-01-01, so the stamp fits 40 bits until 2054
_SEQ_PER_MS = 1 << 13
_process_seq_bits = 0


def _draw_process_seq_bits() -> None:
    global _process_seq_bits
    _process_seq_bits = secrets.randbits(10)


_draw_process_seq_bits()
os.register_at_fork(after_in_child=_draw_process_seq_bits)


def new_seqs(now: float, count: int) -> list[int]:
    """`count` 63-bit numbers that sort by creation time, as `new_ids` does for text ids: a
    millisecond stamp (40 bits), a sequence keeping those made in this process strictly increasing
    (13 bits; a busier millisecond borrows the next), and 10 random bits per process. A sample's
    `seq` tells apart samples of one type at one instant, in the order they were stored."""
    if count <= 0:
        return []
    millis = max(0, int(now * 1000) - _SEQ_EPOCH_MS)
    with _seq_lock:
        if millis <= _last_seq_stamp[0]:
            millis, first = _last_seq_stamp[0], _last_seq_stamp[1] + 1
        else:
            first = 0
        seqs = []
        for _ in range(count):
            if first >= _SEQ_PER_MS:
                millis, first = millis + 1, 0
            seqs.append((millis << 23) | (first << 10) | _process_seq_bits)
            first += 1
        _last_seq_stamp[:] = [millis, first - 1]
    return seqs


def encode_sample_cursor(timestamp_us: int, sample_type: str, seq: int) -> str:
    """The position after a sample in page order (time, type, then its key's tiebreak)."""
    raw = json.dumps([timestamp_us, sample_type, seq], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode("ascii").rstrip("=")


_MAX_CURSOR_CHARS = 1024
# A cursor's instant is a sample time in micros: within what `to_micros` gives for years 1 to
# 9999, which also keeps it a 64-bit integer for SQLite and Postgres.
_MIN_CURSOR_US = -62_135_596_800_000_000
_MAX_CURSOR_US = 253_402_300_800_000_000


def decode_sample_cursor(cursor: str) -> tuple[int, str, int]:
    try:
        if len(cursor) > _MAX_CURSOR_CHARS:
            raise ValueError
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
        if not (isinstance(position, list) and len(position) == 3):
            raise ValueError
        timestamp_us, sample_type, seq = position
        if type(timestamp_us) is not int or not _MIN_CURSOR_US <= timestamp_us < _MAX_CURSOR_US:
            raise ValueError
        if type(sample_type) is not str or "\x00" in sample_type or type(seq) is not int or not 0 <= seq < 2**63:
            raise ValueError
        return timestamp_us, sample_type, seq
    except (ValueError, RecursionError):  # a malformed cursor, however it is malformed
        raise InvalidCursor(
            "invalid cursor: pass back the next_cursor of a previous page"
        ) from None
