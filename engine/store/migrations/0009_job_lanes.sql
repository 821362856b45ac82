-- Priority lanes on the job queue: among due jobs the higher priority runs first (live work ahead
-- of backfills), then the lower fair_seq (a backfill's window index: users' syncs take turns).
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN fair_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_lanes ON jobs (state, priority, fair_seq, run_at);
