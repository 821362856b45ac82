-- A user's own source priority for the merged view, per sample type (`*` for every type the
-- user names no list for): `sources` is a JSON array of source ids, highest priority first.
-- Absent rows mean the deployment's rules (merge.yaml) apply.

CREATE TABLE merge_priorities (
    user_id TEXT NOT NULL,
    sample_type TEXT NOT NULL,
    sources TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (user_id, sample_type)
);
