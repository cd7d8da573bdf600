-- How many times an execution was taken over after its coordinator stopped
-- (its lease expired): it goes back to pending and resumes, up to a bound,
-- with the tasks its listing recorded.
ALTER TABLE executions ADD COLUMN resumed BIGINT NOT NULL DEFAULT 0;
