"""Webhook answers are encoded by orjson where it writes exactly what the stdlib encoder writes."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from engine.api.webhooks import dump_answer

any_text = st.text(st.characters(blacklist_categories=()))  # lone surrogates and control characters too
answers = st.dictionaries(any_text, st.one_of(any_text, st.integers(), st.booleans(), st.none(), st.floats()))


def _stdlib(content) -> bytes | str:
    try:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except (ValueError, UnicodeEncodeError) as error:
        return type(error).__name__


@given(answers)
def test_answers_are_the_stdlib_bytes(content) -> None:
    try:
        ours: bytes | str = dump_answer(content)
    except (ValueError, UnicodeEncodeError) as error:
        ours = type(error).__name__
    assert ours == _stdlib(content)
