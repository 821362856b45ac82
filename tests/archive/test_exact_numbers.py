"""An archived record's numbers come back exactly: integers past 64 bits are integers, every
digit of them, so a re-map derives the samples the first mapping did."""

from __future__ import annotations

import json

from engine.archive.keeping import CODEC, canonical, compress, decompress
from engine.store.codec import load_exact


def test_an_archived_record_keeps_its_huge_integers() -> None:
    record = {"id": 18446744073709551616, "low": -9223372036854775809, "fine": 2**63, "x": 0.5}
    back = decompress(CODEC, compress(canonical(record)))
    assert json.dumps(back, sort_keys=True) == json.dumps(record, sort_keys=True)
    assert type(back["id"]) is int and back["id"] == 18446744073709551616


def test_load_exact_reads_as_the_stdlib_does() -> None:
    for text in ('{"a": 12345678901234567890123}', '[1.5, -0.0, "\\ud800"]', '{"n": 9223372036854775807}'):
        assert json.dumps(load_exact(text)) == json.dumps(json.loads(text))
        assert json.dumps(load_exact(text.encode())) == json.dumps(json.loads(text))
