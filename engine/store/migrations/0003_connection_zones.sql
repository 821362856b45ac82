-- A connection's time zone with its history: each row is a zone in force from `since_us` (UTC
-- microseconds) until the next row. `zone` is an IANA name or a fixed offset written +HH:MM;
-- `origin` says who said so: connection (the vendor's profile or records) or app (at connect).

CREATE TABLE connection_zones (
    vendor TEXT NOT NULL,
    user_id TEXT NOT NULL,
    since_us BIGINT NOT NULL,
    zone TEXT NOT NULL,
    origin TEXT NOT NULL,
    observed_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (vendor, user_id, since_us)
);
