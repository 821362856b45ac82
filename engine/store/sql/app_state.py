"""What the app (not a user) holds at a vendor: secrets it was issued, webhook subscriptions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.store.codec import dump_json, load_json
from engine.store.records import AppSubscription
from engine.store.sql.dialect import Concern, decoder, record_columns, upsert, where

APP_SUBSCRIPTION_COLUMNS = record_columns(AppSubscription)
_subscription = decoder(AppSubscription, detail=load_json)
APP_USER = ""  # the "user" an app-level secret is bound to in its encryption context


class AppState(Concern):
    """What the app (not a user) holds at a vendor: secrets it was issued, its subscriptions."""

    async def put_app_secret(
        self, vendor: str, name: str, value: str, *, now: float | None = None
    ) -> None:
        """Keep a secret a vendor issued to the app (encrypted at rest); replaces the previous one."""
        await self._ex.write(
            upsert("app_secrets", "vendor, name, value_enc, updated_at", "vendor, name"),
            (vendor, name, self._seal(value, vendor, APP_USER, f"app_secret:{name}"),
             self._now(now)))

    async def get_app_secrets(self, vendor: str) -> dict[str, str]:
        """Every stored app secret of `vendor`, decrypted: {name: value}."""
        rows = await self._ex.read_all(
            "SELECT name, value_enc FROM app_secrets WHERE vendor = ? ORDER BY name", (vendor,))
        return {name: self._cipher.decrypt(sealed, vendor=vendor, user_id=APP_USER,
                                           field=f"app_secret:{name}") for name, sealed in rows}

    async def put_app_subscription(
        self, vendor: str, subscription_id: str, *, expires_at: float | None,
        detail: Mapping[str, Any] | None = None, now: float | None = None,
    ) -> AppSubscription:
        rows = await self._ex.write_returning(
            upsert("app_subscriptions", APP_SUBSCRIPTION_COLUMNS, "vendor, subscription_id")
            + f" RETURNING {APP_SUBSCRIPTION_COLUMNS}",
            (vendor, subscription_id, expires_at, dump_json(dict(detail or {})), self._now(now)))
        return _subscription(rows[0])

    async def list_app_subscriptions(self, vendor: str | None = None) -> list[AppSubscription]:
        """Ordered by vendor, then expiry (unknown expiry last)."""
        filters, params = where(("vendor = ?", vendor))
        rows = await self._ex.read_all(
            f"SELECT {APP_SUBSCRIPTION_COLUMNS} FROM app_subscriptions {filters}"
            "ORDER BY vendor, CASE WHEN expires_at IS NULL THEN 1 ELSE 0 END, expires_at, "
            "subscription_id", params)
        return [_subscription(row) for row in rows]

    async def delete_app_subscription(self, vendor: str, subscription_id: str) -> bool:
        return await self._ex.write(
            "DELETE FROM app_subscriptions WHERE vendor = ? AND subscription_id = ?",
            (vendor, subscription_id)) > 0
