"""Connection time zones with their history (people travel): append-only rows, one per change."""

from __future__ import annotations

from engine.store.sql.dialect import Concern, Tx, upsert

ZoneRow = tuple[float, str, str]  # (in force since, epoch seconds; zone; origin)


class Zones(Concern):
    """Each connection's time zone with its history: (in force since, zone, origin) rows."""

    async def record_zone(
        self, vendor: str, user_id: str, *, zone: str, origin: str, since: float | None = None,
        now: float | None = None,
    ) -> bool:
        """Add `zone` (an IANA name or +HH:MM) as in force from `since` (default now) unless the
        zone in force then is already it. True when the history changed."""
        at = self._now(now)
        since_us = int((at if since is None else since) * 1_000_000)

        async def record(tx: Tx) -> bool:
            before = await tx.all(
                "SELECT zone FROM connection_zones WHERE vendor = ? AND user_id = ? AND since_us <= ? "
                "ORDER BY since_us DESC LIMIT 1", (vendor, user_id, since_us))
            if not before:  # before the first entry: the earliest one is assumed there
                before = await tx.all(
                    "SELECT zone FROM connection_zones WHERE vendor = ? AND user_id = ? "
                    "ORDER BY since_us LIMIT 1", (vendor, user_id))
            if before and before[0][0] == zone:
                return False
            await tx.count(upsert("connection_zones", "vendor, user_id, since_us, zone, origin, observed_at",
                                  "vendor, user_id, since_us"),
                           (vendor, user_id, since_us, zone, origin, at))
            return True

        return await self._ex.transaction(record)

    async def zone_history(self, vendor: str, user_id: str) -> list[ZoneRow]:
        """(since as epoch seconds, zone, origin) rows, oldest first."""
        rows = await self._ex.read_all(
            "SELECT since_us, zone, origin FROM connection_zones WHERE vendor = ? AND user_id = ? "
            "ORDER BY since_us", (vendor, user_id))
        return [(since_us / 1_000_000, zone, origin) for since_us, zone, origin in rows]
