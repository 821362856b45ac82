-- Per-user credentials of on-device sources (a phone posting its health store's samples): only a
-- keyed hash of each token is kept; `token_id` is the public handle to list and revoke it by.

CREATE TABLE ingest_tokens (
    token_id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    vendor TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    revoked_at DOUBLE PRECISION
);
CREATE INDEX ingest_tokens_by_user ON ingest_tokens (vendor, user_id);
