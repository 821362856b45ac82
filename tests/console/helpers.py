"""Console test plumbing shared by the HTTP-level and the browser tests."""

from __future__ import annotations

import re

import httpx2

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]*)"')
HTML = {"Accept": "text/html"}


def csrf_of(page: str) -> str:
    found = CSRF_FIELD.search(page)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def log_in(client: httpx2.AsyncClient, api_key: str) -> str:
    """Log in through the form; returns a CSRF token of the new session."""
    form = await client.get("/console/login", headers=HTML)
    assert form.status_code == 200, form.text
    answer = await client.post("/console/login", headers=HTML,
                               data={"csrf": csrf_of(form.text), "api_key": api_key, "next": "/console/jobs"})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/jobs", answer.text
    page = await client.get("/console/jobs", headers=HTML)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)
