-- Registry notifications: an inbox written before the endpoint answers, so
-- nothing acknowledged is lost. A redelivered event (same id from the same
-- registry) is stored once.
ALTER TABLE registries ADD COLUMN event_secret_hash TEXT;
ALTER TABLE registries ADD COLUMN events_accepted BIGINT NOT NULL DEFAULT 0;
ALTER TABLE registries ADD COLUMN events_dropped BIGINT NOT NULL DEFAULT 0;
ALTER TABLE registries ADD COLUMN events_ignored BIGINT NOT NULL DEFAULT 0;

CREATE TABLE events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    registry_id     BIGINT  NOT NULL REFERENCES registries (id) ON DELETE CASCADE,
    event_id        TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    repository      TEXT    NOT NULL,
    tag             TEXT,
    digest          TEXT,
    size            BIGINT,
    from_repository TEXT,
    received_at     BIGINT  NOT NULL,
    status          TEXT    NOT NULL,
    claimed_by      TEXT,
    lease_until     BIGINT,
    execution_id    BIGINT  REFERENCES executions (id) ON DELETE SET NULL,
    outcome         TEXT,
    processed_at    BIGINT,
    UNIQUE (registry_id, event_id)
);
CREATE INDEX events_status ON events (status, id);
CREATE INDEX events_execution ON events (execution_id);
