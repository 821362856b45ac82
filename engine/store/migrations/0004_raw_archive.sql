-- The raw archive: every distinct version of every vendor record the engine fetched or received
-- in an authenticated delivery, compressed, so a fixed spec can re-derive history without a vendor
-- call. A record's identity is `raw_key` (a hash of vendor, user, resource and the vendor's record
-- identity); each version is one row, `head` = 1 on the latest. Provenance columns on samples
-- name the version they were mapped from; erasures leave a row naming the user only by a keyed
-- hash; a re-map run keeps its position so a crashed run resumes.

CREATE TABLE raw_records (
    id TEXT PRIMARY KEY,
    raw_key TEXT NOT NULL,
    vendor TEXT NOT NULL,
    user_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    record_key TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    head SMALLINT NOT NULL,
    channel TEXT NOT NULL,
    trust TEXT NOT NULL,
    codec TEXT NOT NULL,
    body BYTEA NOT NULL,
    arrived_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX raw_records_by_key ON raw_records (raw_key, head);
CREATE INDEX raw_records_heads ON raw_records (vendor, head, user_id, resource, record_key);
CREATE INDEX raw_records_by_user ON raw_records (user_id);
CREATE INDEX raw_records_by_arrival ON raw_records (arrived_at);

ALTER TABLE samples ADD COLUMN channel TEXT;
ALTER TABLE samples ADD COLUMN spec_version INTEGER;
ALTER TABLE samples ADD COLUMN mapping_hash TEXT;
ALTER TABLE samples ADD COLUMN raw_key TEXT;
ALTER TABLE samples ADD COLUMN raw_id TEXT;
CREATE INDEX samples_by_raw ON samples (raw_key);

CREATE TABLE erasures (
    id TEXT PRIMARY KEY,
    subject_hash TEXT NOT NULL,
    reason TEXT NOT NULL,
    vendor TEXT,
    counts TEXT NOT NULL,
    erased_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX erasures_by_subject ON erasures (subject_hash);

CREATE TABLE remap_runs (
    run_id TEXT PRIMARY KEY,
    vendor TEXT NOT NULL,
    user_id TEXT,
    scope TEXT NOT NULL,
    position TEXT,
    counts TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX remap_runs_by_scope ON remap_runs (vendor, state);
CREATE INDEX remap_runs_by_user ON remap_runs (user_id);
