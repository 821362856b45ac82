"""App-level subscriptions: the spec's `subscriptions.app` requests (create, list, renew), made
with the app's own credentials. Subscription ids and expiries are mirrored in the store so the
scheduler can renew ahead of expiry; `store_secrets` values from a create response (a signing
key shown only once) are stored encrypted and read back as `{secret:NAME}`."""

from __future__ import annotations

import builtins
import logging
from dataclasses import dataclass, field
from typing import Any

from engine.auth.vendor_calls import call
from engine.context import EngineContext
from engine.errors import BadRequest, VendorApiError
from engine.http import response_json, spec_values
from engine.instants import epoch_seconds
from engine.spec.expr import Expr
from engine.spec.model import AppSubscriptions, Request, Spec

log = logging.getLogger("engine.subscriptions")


@dataclass(frozen=True, slots=True)
class SubscriptionInfo:
    id: str
    expires_at: float | None
    item: Any = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class CreateReport:
    created: tuple[SubscriptionInfo, ...]
    secrets_stored: tuple[str, ...]  # names only


class AppSubscriptionManager:
    """Works on an open engine (its specs, store, HTTP client, settings and URLs)."""

    def __init__(self, engine: EngineContext) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ parts

    def block(self, vendor: str) -> tuple[Spec, AppSubscriptions]:
        spec = self.engine.configured_spec(vendor)
        app = spec.subscriptions.app
        if app is None:
            raise BadRequest(f"{spec.id} declares no app-level subscriptions", code="no_app_subscriptions",
                             vendor=spec.id)
        return spec, app

    async def _send(self, spec: Spec, request: Request, what: str, **values: Any) -> Any:
        base = spec_values(spec, webhook_url=self.engine.webhook_url(spec.id),
                           redirect_uri=self.engine.redirect_uri(spec.id), **values)
        secrets = await self.engine.store.get_app_secrets(spec.id)
        response = await call(self.engine.http, spec, request, base, what=what,
                              env=self.engine.settings.env, secrets=secrets)
        return response_json(response)

    @staticmethod
    def _info(app: AppSubscriptions, item: Any) -> SubscriptionInfo | None:
        raw_id = _search(app.id, item)
        if raw_id in (None, "") or isinstance(raw_id, dict | list | bool):
            return None
        return SubscriptionInfo(str(raw_id), epoch_seconds(_search(app.expires_at, item)), item)

    async def _remember(self, spec: Spec, info: SubscriptionInfo) -> None:
        await self.engine.store.put_app_subscription(spec.id, info.id, expires_at=info.expires_at)

    # ------------------------------------------------------------------ operations

    async def create(self, vendor: str) -> CreateReport:
        spec, app = self.block(vendor)
        if not app.create:
            raise BadRequest(f"{spec.id} declares no create request", code="no_create_request", vendor=spec.id)
        created: list[SubscriptionInfo] = []
        stored: list[str] = []
        for index, request in enumerate(app.create):
            body = await self._send(spec, request, f"create request #{index + 1}")
            for name, expr in app.store_secrets:
                value = _search(expr, body)
                if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                    await self.engine.store.put_app_secret(spec.id, name, str(value))
                    stored.append(name)
            info = self._info(app, body) if app.id is not None else None
            if info is not None:
                await self._remember(spec, info)
                created.append(info)
        if app.list is not None:
            await self.list(vendor)  # learn ids and expiries the create answers left out
        log.info("app subscriptions created", extra={"vendor": spec.id, "subscriptions_created": len(created),
                                                     "secrets_stored": stored})
        return CreateReport(tuple(created), tuple(dict.fromkeys(stored)))

    async def list(self, vendor: str) -> list[SubscriptionInfo]:
        """The vendor's current subscriptions; the store's copy is brought in line with them."""
        spec, app = self.block(vendor)
        if app.list is None:
            return [SubscriptionInfo(s.subscription_id, s.expires_at)
                    for s in await self.engine.store.list_app_subscriptions(spec.id)]
        body = await self._send(spec, app.list, "list request")
        items = _search(app.items, body) if app.items is not None else body
        if items is None:
            items = []
        if not isinstance(items, list):
            raise VendorApiError("the list answer holds no array where `items` says", vendor=spec.id)
        found = [info for item in items if (info := self._info(app, item)) is not None]
        for info in found:
            await self._remember(spec, info)
        current = {info.id for info in found}
        for stale in await self.engine.store.list_app_subscriptions(spec.id):
            if stale.subscription_id not in current:
                await self.engine.store.delete_app_subscription(spec.id, stale.subscription_id)
        return found

    # `builtins.list`: in the class body `list` is the method above.
    async def renew(self, vendor: str, *, subscription_id: str | None = None
                    ) -> builtins.list[SubscriptionInfo]:
        """Renew one subscription, or every one the vendor lists."""
        spec, app = self.block(vendor)
        if app.renew is None:
            raise BadRequest(f"{spec.id} declares no renew request", code="no_renew_request", vendor=spec.id)
        ids = [subscription_id] if subscription_id else [info.id for info in await self.list(vendor)]
        renewed: list[SubscriptionInfo] = []
        for sub_id in ids:
            body = await self._send(spec, app.renew, "renew request", subscription_id=sub_id)
            expires = epoch_seconds(_search(app.expires_at, body)) if isinstance(body, dict) else None
            info = SubscriptionInfo(sub_id, expires, body)
            await self._remember(spec, info)
            renewed.append(info)
        if app.list is not None and any(info.expires_at is None for info in renewed):
            await self.list(vendor)
        log.info("app subscriptions renewed", extra={"vendor": spec.id, "renewed": len(renewed)})
        return renewed


def _search(expr: Expr | None, document: Any) -> Any:
    if expr is None or document is None:
        return None
    return expr.search(document)
