-- Outbound delivery: the outbox written in the same transaction as the change it reports, the
-- customer's endpoints, one delivery row per (endpoint, event), and what a sync's windows did.
-- Events get their feed position (`seq`) when dispatched: dispatches are serialised on the
-- `outbox_counters` row, so positions commit in order and a feed reader never skips one.

CREATE TABLE outbox_events (
    id TEXT PRIMARY KEY,
    seq BIGINT UNIQUE,
    event_type TEXT NOT NULL,
    user_id TEXT,
    origin TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    dispatched_at DOUBLE PRECISION
);
CREATE INDEX outbox_events_waiting ON outbox_events (dispatched_at, id);
CREATE INDEX outbox_events_by_user ON outbox_events (user_id);
CREATE INDEX outbox_events_by_created ON outbox_events (created_at);

CREATE TABLE outbox_counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO outbox_counters (name, value) VALUES ('seq', 0);

CREATE TABLE outbound_endpoints (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    event_types TEXT NOT NULL,
    include_remap SMALLINT NOT NULL,
    description TEXT,
    secrets TEXT NOT NULL,
    status TEXT NOT NULL,
    paused_reason TEXT,
    failing_since DOUBLE PRECISION,
    consecutive_failures INTEGER NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE outbound_deliveries (
    endpoint_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_at DOUBLE PRECISION NOT NULL,
    lease_owner TEXT,
    lease_expires_at DOUBLE PRECISION,
    last_status INTEGER,
    last_error TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    delivered_at DOUBLE PRECISION,
    PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX outbound_deliveries_due ON outbound_deliveries (state, next_at);
CREATE INDEX outbound_deliveries_in_order ON outbound_deliveries (endpoint_id, user_id, seq);

CREATE TABLE outbox_sync_windows (
    sync_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    window_key TEXT NOT NULL,
    user_id TEXT NOT NULL,
    records BIGINT NOT NULL,
    failed SMALLINT NOT NULL,
    PRIMARY KEY (sync_id, resource, window_key)
);
CREATE INDEX outbox_sync_windows_by_user ON outbox_sync_windows (user_id);
