"""Compiling an on-device source: `auth: {type: ingest_token}`, the `ingest` block of the
batches its app posts, and the `units` table of the platform's unit strings.

An ingest spec has no vendor API to call: its resources only map records (no list, get, changes
or poll), and every route of `ingest.on` names one of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.spec import model as m
from engine.spec.catalogue import CATALOGUE, load_json_schema
from engine.spec.compile_base import CompilerBase, Path, duration_seconds
from engine.spec.errors import closest
from engine.spec.expr import Expr

BATCH_SCHEMA = "ingest-batch.schema.json"
_FETCHING = ("list", "get", "changes", "poll")


def batch_variants() -> list[str]:
    """The batch formats schemas/ingest-batch.schema.json defines (its `$defs` of batches)."""
    return sorted(name for name, schema in load_json_schema(BATCH_SCHEMA)["$defs"].items()
                  if schema.get("x-batch"))


class IngestCompiler(CompilerBase):
    def ingest_auth(self, raw: Mapping[str, Any]) -> m.Auth:
        """The auth of an ingest-token spec: no vendor consent, so no URLs or client secrets."""
        return m.Auth(
            authorize_url="", token_url="", client_id="", client_secret="", scopes=(),
            scope_separator="none", pkce=False, client_auth="client_secret_post", authorize_params=(),
            token_params=(), refresh_params=(), token_response=m.TokenResponse(), identity=None,
            revoke=None, post_auth=(), on_disconnect=(), type="ingest_token",
        )

    def ingest(self, raw: Mapping[str, Any], resources: Mapping[str, Any]) -> m.Ingest | None:
        at: Path = ("ingest",)
        auth = raw.get("auth", {})
        block = raw.get("ingest")
        if auth.get("type") != "ingest_token":
            if block is not None:
                self.issue(at, "ingest.auth", "an ingest block needs auth: {type: ingest_token}: the "
                           "ingest route's credential is the user's ingest token")
            return None
        for key in ("webhooks", "subscriptions", "time_zone"):
            if key in raw:
                self.issue((key,), "ingest.no_vendor_api", f"an ingest-token spec has no vendor API: remove `{key}`")
        for name, resource in resources.items():
            for key in _FETCHING:
                if key in resource:
                    self.issue(("resources", name, key), "ingest.no_vendor_api",
                               f"an ingest-token spec has no vendor API to {key}: its resources only map")
        if block is None:
            return None  # the schema already says it is required
        variants = batch_variants()
        if block["batch"] not in variants:
            self.issue(at + ("batch",), "ingest.batch", f"{BATCH_SCHEMA} has no batch {block['batch']!r}; "
                       f"known: {', '.join(variants)}", closest(block["batch"], variants))
        routes: dict[str, str] = {}
        for record_type, resource in block["on"].items():
            if resource not in resources:
                self.issue(at + ("on", record_type), "ingest.resource", f"no resource named {resource!r}",
                           closest(resource, sorted(resources)))
            routes[record_type] = resource
        deleted = block.get("deleted", {})
        dat = at + ("deleted",)
        rate = block.get("rate", {})
        default = m.Ingest(batch="", records=Expr("@"), type=Expr("@"), routes={})
        return m.Ingest(
            batch=block["batch"],
            records=self.expr(block["records"], at + ("records",)) or Expr("@"),
            type=self.expr(block["type"], at + ("type",)) or Expr("@"),
            routes=routes,
            deleted=self.expr(deleted.get("records"), dat + ("records",)),
            deleted_id=self.expr(deleted.get("id"), dat + ("id",)),
            deleted_type=self.expr(deleted.get("type"), dat + ("type",)),
            token_ttl_s=duration_seconds(auth["token_ttl"]) if "token_ttl" in auth else default.token_ttl_s,
            max_body_bytes=block.get("max_body_bytes", default.max_body_bytes),
            max_records=block.get("max_records", default.max_records),
            rate=m.Budget("user", rate["requests"], duration_seconds(rate["window"])) if rate else default.rate,
        )

    def unit_from(self, value: Mapping[str, Any], at: Path, field_unit: str | None) -> m.UnitFrom | None:
        """A value's `unit_from`, checked against the spec's `units` table: every entry a
        catalogue unit, at least one of them measuring what the field measures."""
        expr = self.expr(value["unit_from"], at + ("unit_from",))
        if "unit" in value:
            self.issue(at + ("unit_from",), "unit.twice", "give unit or unit_from, not both")
        if field_unit is None:
            self.issue(at + ("unit_from",), "unit.unexpected", "this field is not a quantity; remove unit_from")
            return None
        names = self.units_table()
        dimension = CATALOGUE.dimension(field_unit)
        if not any(CATALOGUE.dimension(unit) == dimension for _, unit in names):
            self.issue(at + ("unit_from",), "unit.table",
                       f"the spec's `units` table names no unit that converts to {field_unit}: "
                       "the record's unit strings would only be read as catalogue unit names")
        return m.UnitFrom(expr, names) if expr is not None else None

    def units_table(self) -> tuple[tuple[str, str], ...]:
        table = self.raw_spec.get("units", {})
        for name, unit in table.items():
            if CATALOGUE.dimension(unit) is None:
                self.issue(("units", name), "unit.unknown", f"unknown catalogue unit {unit!r}",
                           closest(unit, sorted(CATALOGUE.units)))
        return tuple((name, unit) for name, unit in table.items() if CATALOGUE.dimension(unit) is not None)
