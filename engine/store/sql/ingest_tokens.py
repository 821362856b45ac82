"""Ingest tokens of on-device sources: a keyed hash per token, looked up under every configured
secret so a key rotation does not log phones out."""

from __future__ import annotations

from engine.store.codec import new_id
from engine.store.records import IngestToken
from engine.store.sql.dialect import Concern, decoder, insert, record_columns

INGEST_TOKEN_COLUMNS = record_columns(IngestToken)
_token = decoder(IngestToken)
_PURPOSE = "ingest-token"


class IngestTokens(Concern):
    """Per-user ingest tokens, kept as keyed hashes; a token is found under any configured key."""

    async def add_ingest_token(
        self, vendor: str, user_id: str, token: str, *, expires_at: float, now: float | None = None
    ) -> IngestToken:
        at = self._now(now)
        record = IngestToken(new_id(at), vendor, user_id, at, expires_at)
        await self._ex.write(
            insert("ingest_tokens", f"{INGEST_TOKEN_COLUMNS}, token_hash"),
            (*(getattr(record, name.strip()) for name in INGEST_TOKEN_COLUMNS.split(",")),
             self._cipher.keyed_hash(token, purpose=_PURPOSE)))
        return record

    async def ingest_token_owner(
        self, vendor: str, token: str, *, now: float | None = None
    ) -> IngestToken | None:
        """The token's record while it is neither revoked nor expired, else None."""
        hashes = self._cipher.keyed_hashes(token, purpose=_PURPOSE)
        clause, params = self._ex.dialect.any_of("token_hash", hashes)
        row = await self._ex.read_point(
            f"SELECT {INGEST_TOKEN_COLUMNS} FROM ingest_tokens WHERE {clause} AND vendor = ? "
            "AND revoked_at IS NULL AND expires_at > ?", (*params, vendor, self._now(now)))
        return None if row is None else _token(row)

    async def list_ingest_tokens(self, vendor: str, user_id: str) -> list[IngestToken]:
        rows = await self._ex.read_all(
            f"SELECT {INGEST_TOKEN_COLUMNS} FROM ingest_tokens WHERE vendor = ? AND user_id = ? "
            "ORDER BY created_at, token_id", (vendor, user_id))
        return [_token(row) for row in rows]

    async def revoke_ingest_token(
        self, vendor: str, user_id: str, token_id: str, *, now: float | None = None
    ) -> bool:
        return await self._ex.write(
            "UPDATE ingest_tokens SET revoked_at = ? WHERE vendor = ? AND user_id = ? "
            "AND token_id = ? AND revoked_at IS NULL", (self._now(now), vendor, user_id, token_id)) == 1
