"""Each strategy's stop and continue rules on hand-made responses (the simulator tests drive them
over HTTP)."""

from __future__ import annotations

from engine.fetch.pagination import PageRequest, Paginator, link_target
from engine.spec.expr import Expr
from engine.spec.model import Paginate


def test_link_header_parsing():
    header = '<https://a.test/x?page=1>; rel="prev", <https://a.test/x?page=3>; rel="next last"'
    assert link_target(header, "next") == "https://a.test/x?page=3"
    assert link_target(header, "first") is None
    assert link_target("garbage", "next") is None
    assert link_target(None, "next") is None


def test_cursor_stops_on_missing_or_repeated_cursor():
    p = Paginator(Paginate(type="cursor", next=Expr("next_token"), param="nextToken"))
    first = p.first()
    second = p.next(first, {"next_token": "abc"}, {}, [1])
    assert second == PageRequest(2, {"nextToken": "abc"})
    assert p.next(second, {"next_token": "abc"}, {}, [1]) is None
    assert p.next(second, {"next_token": None}, {}, [1]) is None


def test_offset_with_total_more_and_short_page():
    total = Paginator(Paginate(type="offset", param="offset", limit_param="limit", limit=2, total=Expr("total")))
    first = total.first()
    assert first.params == {"offset": "0", "limit": "2"}
    second = total.next(first, {"total": 3}, {}, [1, 2])
    assert second.params["offset"] == "2"
    assert total.next(second, {"total": 3}, {}, [3]) is None

    more = Paginator(Paginate(type="offset", param="offset", limit=2, more=Expr("more")))
    assert more.next(more.first(), {"more": True}, {}, [1]) is not None
    assert more.next(more.first(), {"more": False}, {}, [1, 2]) is None

    short = Paginator(Paginate(type="offset", param="offset", limit=2))
    assert short.next(short.first(), {}, {}, [1, 2]) is not None
    assert short.next(short.first(), {}, {}, [1]) is None
    assert short.next(short.first(), {}, {}, []) is None


def test_offset_given_by_the_vendor_must_move_forward():
    p = Paginator(Paginate(type="offset", param="offset", next_offset=Expr("offset")))
    assert p.next(p.first(), {"offset": 25}, {}, [1]).params["offset"] == "25"
    assert p.next(p.first(), {"offset": 0}, {}, [1]) is None
    # a digit that is not ASCII ("\u00b9", superscript one) is no offset (the last page), not a crash
    assert p.next(p.first(), {"offset": "\u00b9"}, {}, [1]) is None


def test_page_number_stops_on_empty_or_short_page():
    p = Paginator(Paginate(type="page", param="page", size_param="per_page", size=3, start=1))
    first = p.first()
    assert first.params == {"page": "1", "per_page": "3"}
    second = p.next(first, [], {}, [1, 2, 3])
    assert second.params["page"] == "2"
    assert p.next(second, [], {}, [1]) is None
    assert p.next(second, [], {}, []) is None


def test_next_url_and_none():
    p = Paginator(Paginate(type="next_url", next=Expr("links.next")))
    assert p.next(p.first(), {"links": {"next": "/v1/x?page=2"}}, {}, [1]).url == "/v1/x?page=2"
    assert p.next(p.first(), {"links": {}}, {}, [1]) is None
    assert Paginator(Paginate(type="none")).next(PageRequest(), {}, {}, [1]) is None


def test_vendor_offset_respects_more_flag():
    p = Paginator(Paginate(type="offset", param="offset", more=Expr("body.more"), next_offset=Expr("body.offset")))
    assert p.next(p.first(), {"body": {"more": 1, "offset": 50}}, {}, [1]).params["offset"] == "50"
    assert p.next(p.first(), {"body": {"more": 0, "offset": 50}}, {}, [1]) is None
