-- Dry runs (only the listing runs; its plan is kept) and why a skipped task
-- was skipped.
ALTER TABLE executions ADD COLUMN dry_run BIGINT NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN plan TEXT;
ALTER TABLE tasks ADD COLUMN reason TEXT;
