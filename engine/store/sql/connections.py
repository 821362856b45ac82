"""Connections and their tokens, and pending OAuth authorizations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.store.codec import dump_json, load_json
from engine.store.errors import ConnectionConflict
from engine.store.records import CONNECTION_STATUSES, Connection, OAuthState
from engine.store.sql.dialect import Concern, Row, Tx, insert, where
from engine.store.sql.outbox import ReportsChanges, add_event

CONNECTION_COLUMNS = (
    "vendor, user_id, vendor_user_id, status, scopes, access_token_enc, refresh_token_enc, "
    "token_expires_at, token_version, extra, last_webhook_at, last_pull_at, last_error, "
    "created_at, updated_at"
)
STATE_COLUMNS = (
    "state_id, vendor, user_id, pkce_verifier_enc, return_to, extra, expires_at, created_at"
)
# Statuses a connection's owner hears about (connection.reauth_required, connection.revoked).
_REPORTED = ("reauth_required", "revoked")
_SELECT = f"SELECT {CONNECTION_COLUMNS} FROM connections "
_UPSERT = (
    insert("connections", CONNECTION_COLUMNS) + " ON CONFLICT (vendor, user_id) DO UPDATE SET "
    "vendor_user_id = excluded.vendor_user_id, status = excluded.status, "
    "scopes = excluded.scopes, access_token_enc = excluded.access_token_enc, "
    "refresh_token_enc = COALESCE(excluded.refresh_token_enc, connections.refresh_token_enc), "
    "token_expires_at = excluded.token_expires_at, "
    "token_version = connections.token_version + 1, extra = excluded.extra, "
    f"last_error = NULL, updated_at = excluded.updated_at RETURNING {CONNECTION_COLUMNS}"
)


def check_status(status: str) -> None:
    if status not in CONNECTION_STATUSES:
        raise ValueError(f"unknown connection status {status!r}; one of {CONNECTION_STATUSES}")


class _VendorUserTaken(Exception):
    """Two transactions linked the same vendor account at once; the loser re-checks."""


class Connections(ReportsChanges, Concern):
    """Connections and their tokens."""

    def _connection(self, row: Row) -> Connection:
        vendor, user_id = row[0], row[1]
        return Connection(
            vendor, user_id, row[2], row[3], tuple(load_json(row[4])),
            self._open(row[5], vendor, user_id, "access_token"),
            self._open(row[6], vendor, user_id, "refresh_token"),
            row[7], row[8], load_json(row[9]), *row[10:15],
        )  # fmt: skip

    def _tokens(self, vendor: str, user_id: str, access: str | None, refresh: str | None):
        return (self._seal(access, vendor, user_id, "access_token"),
                self._seal(refresh, vendor, user_id, "refresh_token"))

    async def upsert_connection(
        self, vendor: str, user_id: str, *, vendor_user_id: str | None, scopes: Sequence[str],
        access_token: str | None, refresh_token: str | None, token_expires_at: float | None,
        extra: Mapping[str, Any] | None = None, now: float | None = None,
    ) -> Connection:
        """Create or replace the connection after a successful authorization: status `active`,
        new tokens (token_version + 1), last_error cleared. Raises `ConnectionConflict` when the
        vendor account is actively connected to another app user; a non-active row holding the
        same vendor account is detached (its vendor_user_id cleared) instead."""
        at = self._now(now)
        values = (
            vendor, user_id, vendor_user_id, "active", dump_json(list(scopes)),
            *self._tokens(vendor, user_id, access_token, refresh_token), token_expires_at, 1,
            dump_json(dict(extra or {})), None, None, None, at, at,
        )  # fmt: skip

        async def link(tx: Tx) -> Row | None:
            if vendor_user_id is not None:
                holder = await tx.one(
                    "SELECT user_id, status FROM connections "
                    "WHERE vendor = ? AND vendor_user_id = ?" + tx.dialect.for_update,
                    (vendor, vendor_user_id))
                if holder is not None and holder[0] != user_id:
                    if holder[1] == "active":
                        raise ConnectionConflict(vendor, vendor_user_id, holder[0])
                    await tx.count("UPDATE connections SET vendor_user_id = NULL, updated_at = ? "
                                   "WHERE vendor = ? AND user_id = ?", (at, vendor, holder[0]))
            try:
                row = await tx.one(_UPSERT, values)
            except tx.dialect.unique_violation:
                raise _VendorUserTaken() from None
            if row is not None and self._outbox_enabled:
                await add_event(tx, "connection.created", {
                    "user_id": user_id, "vendor": vendor, "status": "active", "scopes": list(scopes),
                    "reconnected": row[13] != at}, user_id=user_id, origin="live", at=at)
            return row

        try:
            row = await self._ex.transaction(link)
        except _VendorUserTaken:
            row = await self._ex.transaction(link)  # a concurrent link won: re-check the holder
        assert row is not None
        return self._connection(row)

    async def _connection_where(self, column: str, vendor: str, key: str) -> Connection | None:
        row = await self._ex.read_one(f"{_SELECT}WHERE vendor = ? AND {column} = ?", (vendor, key))
        return None if row is None else self._connection(row)

    async def get_connection(self, vendor: str, user_id: str) -> Connection | None:
        return await self._connection_where("user_id", vendor, user_id)

    async def get_connection_by_vendor_user(
        self, vendor: str, vendor_user_id: str
    ) -> Connection | None:
        return await self._connection_where("vendor_user_id", vendor, vendor_user_id)

    async def get_user_id_by_vendor_user(self, vendor: str, vendor_user_id: str) -> str | None:
        """The app user connected to this vendor account: a point read that neither reads nor
        decrypts its tokens (the webhook intake's lookup)."""
        row = await self._ex.read_point(
            "SELECT user_id FROM connections WHERE vendor = ? AND vendor_user_id = ?",
            (vendor, vendor_user_id))
        return None if row is None else row[0]

    async def list_connections(
        self, *, user_id: str | None = None, vendor: str | None = None, status: str | None = None
    ) -> list[Connection]:
        filters, params = where(("user_id = ?", user_id), ("vendor = ?", vendor),
                                ("status = ?", status))
        rows = await self._ex.read_all(_SELECT + filters + "ORDER BY user_id, vendor", params)
        return [self._connection(row) for row in rows]

    async def update_tokens(
        self, vendor: str, user_id: str, *, expected_version: int, access_token: str,
        refresh_token: str | None, token_expires_at: float | None,
        scopes: Sequence[str] | None = None, now: float | None = None,
    ) -> Connection | None:
        """Compare-and-set on token_version. `refresh_token=None` keeps the stored one; `scopes=None`
        keeps the stored scopes. Returns the updated connection, or None when the version moved
        (someone else changed the tokens: re-read) or the connection is gone."""
        access, refresh = self._tokens(vendor, user_id, access_token, refresh_token)
        rows = await self._ex.write_returning(
            "UPDATE connections SET access_token_enc = ?, "
            "refresh_token_enc = COALESCE(?, refresh_token_enc), token_expires_at = ?, "
            "scopes = COALESCE(?, scopes), token_version = token_version + 1, updated_at = ? "
            "WHERE vendor = ? AND user_id = ? AND token_version = ? "
            f"RETURNING {CONNECTION_COLUMNS}",
            (access, refresh, token_expires_at, None if scopes is None else dump_json(list(scopes)),
             self._now(now), vendor, user_id, expected_version))
        return self._connection(rows[0]) if rows else None

    async def set_connection_status(
        self, vendor: str, user_id: str, status: str, *, last_error: str | None = None,
        expected_version: int | None = None, now: float | None = None,
    ) -> bool:
        """Set status (and last_error). With `expected_version`, only if the tokens did not change
        since that version (the `invalid_grant` rule). True when a row changed."""
        check_status(status)
        at = self._now(now)
        sql = ("UPDATE connections SET status = ?, last_error = ?, updated_at = ? "
               "WHERE vendor = ? AND user_id = ?")
        params: list[Any] = [status, last_error, at, vendor, user_id]
        if expected_version is not None:
            sql += " AND token_version = ?"
            params.append(expected_version)
        if status not in _REPORTED or not self._outbox_enabled:
            return await self._ex.write(sql, params) == 1
        return await self._ex.transaction(lambda tx: self._report_status(
            tx, sql, params, vendor, user_id, status, last_error, at))

    async def _report_status(self, tx: Tx, sql: str, params: Sequence[Any], vendor: str, user_id: str,
                             status: str, reason: str | None, at: float) -> bool:
        """Run a status change and, when it moved the connection into a reported status, write
        its connection.<status> event in the same transaction."""
        before = await tx.one("SELECT status FROM connections WHERE vendor = ? AND user_id = ?"
                              + tx.dialect.for_update, (vendor, user_id))
        changed = await tx.count(sql, params) == 1
        if changed and before is not None and before[0] != status:
            await add_event(tx, f"connection.{status}", {
                "user_id": user_id, "vendor": vendor, "status": status, "reason": reason},
                user_id=user_id, origin="live", at=at)
        return changed

    async def record_connection_activity(
        self, vendor: str, user_id: str, *, last_webhook_at: float | None = None,
        last_pull_at: float | None = None, last_error: str | None = None,
        clear_error: bool = False, now: float | None = None,
    ) -> bool:
        """Update the given activity fields only (None leaves a field as it is)."""
        return await self._ex.write(
            "UPDATE connections SET last_webhook_at = COALESCE(?, last_webhook_at), "
            "last_pull_at = COALESCE(?, last_pull_at), "
            "last_error = CASE WHEN ? = 1 THEN NULL ELSE COALESCE(?, last_error) END, "
            "updated_at = ? WHERE vendor = ? AND user_id = ?",
            (last_webhook_at, last_pull_at, int(clear_error), last_error, self._now(now), vendor,
             user_id)) == 1

    async def purge_tokens(
        self, vendor: str, user_id: str, *, status: str = "revoked", now: float | None = None
    ) -> bool:
        """Drop both tokens (token_version + 1) and set `status`; the row stays for history."""
        check_status(status)
        at = self._now(now)
        sql = ("UPDATE connections SET access_token_enc = NULL, refresh_token_enc = NULL, "
               "token_expires_at = NULL, token_version = token_version + 1, status = ?, "
               "updated_at = ? WHERE vendor = ? AND user_id = ?")
        params = (status, at, vendor, user_id)
        if status not in _REPORTED or not self._outbox_enabled:
            return await self._ex.write(sql, params) == 1
        return await self._ex.transaction(lambda tx: self._report_status(
            tx, sql, params, vendor, user_id, status, None, at))

    async def delete_connection(self, vendor: str, user_id: str) -> bool:
        return await self._ex.write(
            "DELETE FROM connections WHERE vendor = ? AND user_id = ?", (vendor, user_id)) == 1


class OAuthStates(Concern):
    """Pending authorizations."""

    async def put_oauth_state(self, state: OAuthState) -> None:
        """Store a pending authorization (`created_at` 0 → now). The state_id must be unguessable."""
        if not state.state_id:
            raise ValueError("state_id must not be empty")
        verifier = self._seal(state.pkce_verifier, state.vendor, state.user_id,
                              f"pkce_verifier:{state.state_id}")
        await self._ex.write(insert("oauth_states", STATE_COLUMNS), (
            state.state_id, state.vendor, state.user_id, verifier, state.return_to,
            dump_json(dict(state.extra)), state.expires_at, state.created_at or self._clock()))

    async def consume_oauth_state(
        self, state_id: str, *, now: float | None = None
    ) -> OAuthState | None:
        """Atomically take the state out (single use). None if unknown, already used or expired."""
        at = self._now(now)
        rows = await self._ex.write_returning(
            f"DELETE FROM oauth_states WHERE state_id = ? RETURNING {STATE_COLUMNS}", (state_id,))
        if not rows or rows[0][6] <= at:
            return None
        state_id, vendor, user_id, verifier, return_to, extra, expires_at, created_at = rows[0]
        return OAuthState(
            state_id, vendor, user_id, expires_at,
            self._open(verifier, vendor, user_id, f"pkce_verifier:{state_id}"),
            return_to, load_json(extra), created_at,
        )  # fmt: skip
