-- App-level state of a vendor integration (not tied to one user): secrets a vendor hands out once
-- (encrypted like tokens), the app's webhook subscriptions with their expiry, and history windows
-- a vendor accepted for later delivery by push.

CREATE TABLE app_secrets (
    vendor TEXT NOT NULL,
    name TEXT NOT NULL,
    value_enc TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (vendor, name)
);

CREATE TABLE app_subscriptions (
    vendor TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    expires_at DOUBLE PRECISION,
    detail TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (vendor, subscription_id)
);
CREATE INDEX app_subscriptions_by_expiry ON app_subscriptions (expires_at);

CREATE TABLE awaited_windows (
    id TEXT PRIMARY KEY,
    sync_id TEXT,
    vendor TEXT NOT NULL,
    user_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    start_us BIGINT NOT NULL,
    end_us BIGINT NOT NULL,
    requested_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX awaited_windows_by_user ON awaited_windows (vendor, user_id, resource, start_us);
CREATE INDEX awaited_windows_by_sync ON awaited_windows (sync_id);
