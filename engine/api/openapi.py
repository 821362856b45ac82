"""`GET /openapi.json` (OpenAPI 3.1) and `GET /docs`, generated from the routes themselves.

Each handler carries its own declaration (`@operation(...)` next to the route in its module:
summary, parameters, body, answers); the document is assembled by walking the app's routes, so
a route and its description cannot drift apart, and a `/v1` route without a declaration fails the
build of the document. Every error answer is the one shape of `engine.errors`, with the code
tables listed; answers not declared per route are covered by `default`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute, Mount, Route

from engine.errors import ERROR_CODES, WEBHOOK_CODES

Schema = dict[str, Any]
F = TypeVar("F")

DOC_ATTRIBUTE = "__openapi__"
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def nullable(schema: Schema) -> Schema:
    kind = schema.get("type", "object")
    return {**schema, "type": [kind, "null"]} if isinstance(kind, str) else schema


STRING: Schema = {"type": "string"}
TIME: Schema = {"type": "string", "format": "date-time"}
OPTIONAL_TIME: Schema = nullable(TIME)
INTEGER: Schema = {"type": "integer"}

ERROR_SCHEMA: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "description": (
                "A stable machine code. By HTTP status when nothing more specific names it: "
                + ", ".join(f"{status} {code}" for status, code in sorted(ERROR_CODES.items()))
                + ". For refused webhook deliveries: "
                + ", ".join(f"{status} {code}" for status, code in sorted(WEBHOOK_CODES.items())) + ".")},
            "message": {"type": "string", "description": "For people; never a token or secret"},
            "vendor": {"type": "string"},
            "retry_after": {"type": "number", "description": "Seconds; also in Retry-After"},
        },
    }},
}


@dataclass(frozen=True)
class Param:
    name: str
    where: str = "query"  # "query" or "path"
    schema: Schema = field(default_factory=lambda: dict(STRING))
    description: str = ""
    required: bool = False

    def document(self) -> Schema:
        out: Schema = {"name": self.name, "in": self.where, "schema": self.schema,
                       "required": self.required or self.where == "path"}
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class Operation:
    summary: str
    responses: Mapping[int, tuple[str, Schema | None]]  # status -> (description, JSON schema)
    params: Sequence[Param] = ()
    body: Schema | None = None
    body_required: bool = True
    public: bool = False  # no API key (vendors, browsers and probes call it)
    media_types: Mapping[int, str] = field(default_factory=dict)  # status -> other than JSON
    also: Mapping[int, Mapping[str, Schema]] = field(default_factory=dict)  # more media types
    tags: Sequence[str] = ()
    description: str = ""
    head: bool = False  # HEAD is an operation of its own here, not only GET's headers


def operation(summary: str, responses: Mapping[int, tuple[str, Schema | None]], **options: Any) -> Callable[[F], F]:
    """Declare what a handler takes and answers; the document is built from these."""
    declared = Operation(summary, responses, **options)

    def attach(handler: F) -> F:
        setattr(handler, DOC_ATTRIBUTE, declared)
        return handler

    return attach


def declaration(endpoint: Any) -> Operation | None:
    found = getattr(endpoint, DOC_ATTRIBUTE, None)
    return found if isinstance(found, Operation) else None


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]


def _operation_document(path: str, method: str, op: Operation) -> Schema:
    declared = {p.name for p in op.params if p.where == "path"}
    params = [p.document() for p in op.params]
    params += [Param(name, "path").document() for name in _path_params(path) if name not in declared]
    responses: Schema = {}
    for status, (description, schema) in sorted(op.responses.items()):
        answer: Schema = {"description": description}
        if schema is not None:
            answer["content"] = {op.media_types.get(status, "application/json"): {"schema": schema}}
            answer["content"].update({media: {"schema": other} for media, other in op.also.get(status, {}).items()})
        responses[str(status)] = answer
    responses["default"] = {"description": "An error, in the API's one error shape",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    document: Schema = {
        "operationId": f"{method.lower()}_{path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
        "summary": op.summary,
        "parameters": params,
        "responses": responses,
        "security": [] if op.public else BEARER,
    }
    if op.description:
        document["description"] = op.description
    if op.tags:
        document["tags"] = list(op.tags)
    if op.body is not None:
        document["requestBody"] = {"required": op.body_required,
                                   "content": {"application/json": {"schema": op.body}}}
    return document


def _walk(routes: Iterable[BaseRoute], prefix: str = "") -> Iterable[tuple[str, Route]]:
    for route in routes:
        if isinstance(route, Mount):
            yield from _walk(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            yield prefix + route.path, route


def _version() -> str:
    try:
        return version("synheart-engine")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+source"


def undeclared_routes(routes: Iterable[BaseRoute]) -> list[str]:
    """The /v1 routes without an `@operation` declaration (the test suite requires none)."""
    return [f"{','.join(sorted(route.methods or ()))} {path}" for path, route in _walk(routes)
            if path.startswith("/v1") and declaration(route.endpoint) is None]


UNDECLARED = Operation("Not described yet", {})


def build_document(routes: Iterable[BaseRoute], *, server_url: str | None = None) -> Schema:
    """The OpenAPI document of `routes`: each declared route, and any /v1 route that is not with
    only its error answers (so the document never fails to build; the tests name such routes)."""
    paths: dict[str, Schema] = {}
    for path, route in _walk(routes):
        op = declaration(route.endpoint)
        if op is None:
            if not path.startswith("/v1"):
                continue
            op = UNDECLARED
        # Starlette answers HEAD wherever GET is routed; it is documented where it means more.
        for method in sorted((route.methods or set()) - (set() if op.head else {"HEAD"})):
            paths.setdefault(path, {})[method.lower()] = _operation_document(path, method, op)
    document: Schema = {
        "openapi": "3.1.0",
        "info": {"title": "Synheart connector engine", "version": _version(),
                 "description": "Wearable vendor clouds to one normalized health-sample schema."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "ENGINE_API_KEY. Without one, /v1 answers direct loopback clients only."}},
        },
        "security": BEARER,
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document


# ------------------------------------------------------------------ routes


DOCS_PAGE = "docs.html"


@operation("This document (OpenAPI 3.1)", {200: ("The document", {"type": "object"})}, public=True)
async def openapi_json(request: Request) -> JSONResponse:
    cached = getattr(request.app.state, "openapi", None)
    if cached is None:
        cached = request.app.state.openapi = build_document(
            request.app.routes, server_url=request.app.state.engine.settings.public_url)
    return JSONResponse(cached)


@operation("A page reading this document", {200: ("HTML", {"type": "string"})},
           public=True, media_types={200: "text/html"})
async def docs_page(request: Request) -> HTMLResponse:
    page = files("engine.api").joinpath("static", DOCS_PAGE).read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Content-Security-Policy": DOCS_CSP})


# The page is self-contained: its own script, no other origin.
DOCS_CSP = "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'"

routes = [
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs_page, methods=["GET"]),
]
