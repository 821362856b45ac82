"""Pagination parameters given to `build_request` land exactly where setting them on the built
URL would put them: they replace a same-named parameter in its place, or are appended."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.http import TemplateValues, build_request, spec_values
from engine.spec.loader import load_spec
from engine.spec.model import Request
from engine.spec.template import Template
from tests.examples import examples

ROOT = Path(__file__).resolve().parents[2]
SPEC = load_spec(ROOT / "vendors" / "whoop.yaml", env={})
names = st.sampled_from(["limit", "nextToken", "offset", "page", "start"])
values = st.sampled_from(["1", "25", "a b", "x&y"])


def _request(url: str | None, params: list[tuple[str, str]]) -> Request:
    return Request(
        method="GET",
        path=None if url else Template("/v2/activity/sleep"),
        url=Template(url) if url else None,
        params=tuple((name, Template(value)) for name, value in params),
        auth="none",
    )


@settings(max_examples=examples(150), deadline=None)
@given(url=st.sampled_from([None, "https://api.prod.whoop.com/developer/v2/x",
                            "https://api.prod.whoop.com/developer/v2/x?page=9&keep=1"]),
       params=st.lists(st.tuples(names, values), max_size=4),
       extra=st.dictionaries(names, values, max_size=3))
def test_extra_params_equal_setting_them_on_the_url(url, params, extra) -> None:
    client = httpx2.AsyncClient()
    request = _request(url, params)
    values_ = TemplateValues(spec_values(SPEC))
    expected = build_request(client, SPEC, request, values_).url
    for name, value in extra.items():
        expected = expected.copy_set_param(name, value)
    assert build_request(client, SPEC, request, values_, extra_params=extra).url == expected


@pytest.mark.parametrize(("params", "extra", "query"), [
    ([("limit", "25")], {"nextToken": "7"}, "limit=25&nextToken=7"),
    ([("nextToken", "1"), ("limit", "25"), ("nextToken", "2")], {"nextToken": "7"}, "nextToken=7&limit=25"),
])
def test_extra_params_examples(params, extra, query) -> None:
    built = build_request(httpx2.AsyncClient(), SPEC, _request(None, params),
                          TemplateValues(spec_values(SPEC)), extra_params=extra)
    assert built.url.query.decode() == query
