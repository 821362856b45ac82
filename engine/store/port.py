"""The storage port: every durable thing the engine keeps, by concern.

Each concern is one class of `engine.store.sql`, and its methods, with their contracts, are its
interface, written once: `Connections` (and their tokens), `OAuthStates`, `Jobs` (the webhook inbox
and the job queue), `Budgets` (rate budgets and leases), `Samples`, `Syncs`, `AppState`,
`RawArchive`, `Outbox`, `Zones`, `Identities`, `IngestTokens` and `MergePriorities`. A caller that
needs one concern can type its store as that class; `Store` is all of them on one database,
whichever executor (SQLite or PostgreSQL) runs the statements. The records they take and return,
and the conventions they share (epoch-second instants, optional `now`, plaintext secrets
encrypted at rest), are in `engine.store.records`; the records are re-exported here.
"""

from __future__ import annotations

from engine.store.records import (  # noqa: F401 - the records are part of the port
    JOB_STATES,
    AppSubscription,
    AwaitedWindow,
    BudgetGrant,
    BudgetRequest,
    BudgetState,
    Connection,
    EnqueueResult,
    Erasure,
    InboxEvent,
    IngestToken,
    Job,
    JobSpec,
    Lease,
    OAuthState,
    RawHead,
    RawVersion,
    RecordResult,
    RemapProgress,
    RemapRun,
    SamplePage,
    SampleProvenance,
    SampleRecord,
    StoredSample,
    Sync,
    UpsertResult,
)
from engine.store.sql.app_state import AppState  # noqa: F401 - the concerns, each its interface
from engine.store.sql.archive import RawArchive  # noqa: F401
from engine.store.sql.budgets import Budgets  # noqa: F401
from engine.store.sql.connections import Connections, OAuthStates  # noqa: F401
from engine.store.sql.identity import Identities  # noqa: F401
from engine.store.sql.ingest_tokens import IngestTokens  # noqa: F401
from engine.store.sql.jobs import Jobs  # noqa: F401
from engine.store.sql.merge_prefs import MergePriorities  # noqa: F401
from engine.store.sql.outbox import Outbox  # noqa: F401
from engine.store.sql.samples import Samples  # noqa: F401
from engine.store.sql.store import SqlStore as Store  # noqa: F401
from engine.store.sql.syncs import Syncs  # noqa: F401
from engine.store.sql.zones import Zones  # noqa: F401
