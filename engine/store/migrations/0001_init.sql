-- Initial schema. Portable SQL: the same statements run on SQLite and PostgreSQL.
-- Instants are epoch seconds (DOUBLE PRECISION); sample times are epoch microseconds (BIGINT);
-- JSON is TEXT; secrets are TEXT envelopes produced by the token cipher; ids are app-generated TEXT.

CREATE TABLE connections (
    vendor TEXT NOT NULL,
    user_id TEXT NOT NULL,
    vendor_user_id TEXT,
    status TEXT NOT NULL,
    scopes TEXT NOT NULL,
    access_token_enc TEXT,
    refresh_token_enc TEXT,
    token_expires_at DOUBLE PRECISION,
    token_version BIGINT NOT NULL,
    extra TEXT NOT NULL,
    last_webhook_at DOUBLE PRECISION,
    last_pull_at DOUBLE PRECISION,
    last_error TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (vendor, user_id)
);
CREATE UNIQUE INDEX connections_by_vendor_user ON connections (vendor, vendor_user_id);
CREATE INDEX connections_by_user ON connections (user_id);

CREATE TABLE oauth_states (
    state_id TEXT PRIMARY KEY,
    vendor TEXT NOT NULL,
    user_id TEXT NOT NULL,
    pkce_verifier_enc TEXT,
    return_to TEXT,
    extra TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);
CREATE INDEX oauth_states_by_user ON oauth_states (user_id);

CREATE TABLE locks (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE inbox_events (
    vendor TEXT NOT NULL,
    event_key TEXT NOT NULL,
    event_type TEXT,
    vendor_user_id TEXT,
    user_id TEXT,
    object_id TEXT,
    payload TEXT NOT NULL,
    job_id TEXT,
    received_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (vendor, event_key)
);
CREATE INDEX inbox_events_by_received ON inbox_events (received_at);
CREATE INDEX inbox_events_by_user ON inbox_events (user_id);
CREATE INDEX inbox_events_by_vendor_user ON inbox_events (vendor, vendor_user_id);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    run_at DOUBLE PRECISION NOT NULL,
    lease_owner TEXT,
    lease_expires_at DOUBLE PRECISION,
    last_error TEXT,
    idempotency_key TEXT UNIQUE,
    vendor TEXT,
    user_id TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX jobs_due ON jobs (state, run_at);
CREATE INDEX jobs_leased ON jobs (state, lease_expires_at);
CREATE INDEX jobs_by_user ON jobs (user_id);

CREATE TABLE cursors (
    vendor TEXT NOT NULL,
    user_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (vendor, user_id, resource)
);
CREATE INDEX cursors_by_user ON cursors (user_id);

CREATE TABLE budgets (
    budget_key TEXT PRIMARY KEY,
    tat DOUBLE PRECISION NOT NULL,
    emission_s DOUBLE PRECISION NOT NULL,
    tau_s DOUBLE PRECISION NOT NULL,
    blocked_until DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE samples (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    source TEXT NOT NULL,
    sample_type TEXT NOT NULL,
    dedup_id TEXT NOT NULL,
    timestamp_us BIGINT NOT NULL,
    end_us BIGINT,
    deleted SMALLINT NOT NULL,
    vendor_updated_us BIGINT,
    resource TEXT,
    vendor_record_id TEXT,
    payload TEXT NOT NULL,
    stored_at DOUBLE PRECISION NOT NULL,
    UNIQUE (user_id, source, sample_type, dedup_id)
);
CREATE INDEX samples_by_time ON samples (user_id, timestamp_us, id);
CREATE INDEX samples_by_type_time ON samples (user_id, sample_type, timestamp_us, id);
CREATE INDEX samples_by_record ON samples (user_id, source, vendor_record_id);

CREATE TABLE syncs (
    sync_id TEXT PRIMARY KEY,
    vendor TEXT NOT NULL,
    user_id TEXT NOT NULL,
    windows_total INTEGER NOT NULL,
    windows_done INTEGER NOT NULL,
    records BIGINT NOT NULL,
    errors INTEGER NOT NULL,
    clipped_note TEXT,
    last_error TEXT,
    detail TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX syncs_by_user ON syncs (user_id);
