-- A sync can be cancelled: its queued windows are removed and counted here, so a cancelled sync
-- still finishes (done + failed + cancelled windows reach the total) and says when it stopped.
ALTER TABLE syncs ADD COLUMN windows_cancelled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE syncs ADD COLUMN cancelled_at DOUBLE PRECISION;
