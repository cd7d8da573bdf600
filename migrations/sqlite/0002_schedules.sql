-- Scheduled triggers: each scheduled, enabled policy's next tick. A
-- coordinator fires a tick by moving it forward with a conditional UPDATE
-- (WHERE next_fire_at = the tick it saw), so one tick fires once however
-- many coordinators share the database.
ALTER TABLE policies ADD COLUMN next_fire_at BIGINT;
CREATE INDEX policies_next_fire ON policies (next_fire_at) WHERE next_fire_at IS NOT NULL;
-- The tick a scheduled execution fired for.
ALTER TABLE executions ADD COLUMN tick_at BIGINT;
