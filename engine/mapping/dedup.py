"""The dedup key every sample carries.

Format: ``user|source|resource|sample_type|identity`` where ``identity`` is the vendor record id,
or the sample's start (``timestamp_utc``) when the record has no id. When ``each`` explodes one
record into several samples, ``|timestamp_utc`` is appended so each one keeps its own key.

The resource is part of the key because vendors number records per collection: the same id can
name a sleep and the recovery computed from it, both mapped to ``vendor_score``. Components are
escaped (``%`` -> ``%25``, ``|`` -> ``%7C``) so the key splits back unambiguously.
"""

from __future__ import annotations

SEPARATOR = "|"


def _escape(component: str) -> str:
    if "%" in component:
        component = component.replace("%", "%25")
    if SEPARATOR in component:
        component = component.replace(SEPARATOR, "%7C")
    return component


def dedup_key(
    user_id: str,
    source: str,
    resource: str,
    sample_type: str,
    record_id: str | None,
    timestamp_utc: str,
    exploded: bool,
) -> str:
    parts = [user_id, source, resource, sample_type, record_id if record_id is not None else timestamp_utc]
    if exploded:
        parts.append(timestamp_utc)
    return SEPARATOR.join(_escape(part) for part in parts)


def split_dedup_key(key: str) -> list[str]:
    return [part.replace("%7C", SEPARATOR).replace("%25", "%") for part in key.split(SEPARATOR)]
