-- Ferry coordinator state, PostgreSQL flavour (keep in step with ../sqlite/).
-- Booleans are BIGINT 0/1, times BIGINT epoch milliseconds, JSON is TEXT.

CREATE TABLE registries (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              TEXT    NOT NULL UNIQUE,
    url               TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    insecure          BIGINT  NOT NULL DEFAULT 0,
    description       TEXT    NOT NULL DEFAULT '',
    credential_type   TEXT,
    credential_sealed BYTEA,
    creation_time     BIGINT  NOT NULL,
    update_time       BIGINT  NOT NULL
);

CREATE TABLE function_contents (
    digest        TEXT    PRIMARY KEY,
    size          BIGINT  NOT NULL,
    content       BYTEA   NOT NULL,
    creation_time BIGINT  NOT NULL
);

CREATE TABLE functions (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    digest        TEXT    NOT NULL REFERENCES function_contents (digest),
    size          BIGINT  NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    imports       TEXT    NOT NULL DEFAULT '[]',
    exports       TEXT    NOT NULL DEFAULT '[]',
    params        TEXT    NOT NULL DEFAULT '[]',
    builtin       BIGINT  NOT NULL DEFAULT 0,
    creation_time BIGINT  NOT NULL,
    UNIQUE (name, version)
);

CREATE TABLE templates (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          TEXT    NOT NULL,
    version       BIGINT  NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    body          TEXT    NOT NULL,
    creation_time BIGINT  NOT NULL,
    UNIQUE (name, version)
);

CREATE TABLE policies (
    id                          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                        TEXT    NOT NULL UNIQUE,
    description                 TEXT    NOT NULL DEFAULT '',
    src_registry_id             BIGINT  NOT NULL REFERENCES registries (id),
    dest_registry_id            BIGINT  NOT NULL REFERENCES registries (id),
    dest_namespace              TEXT    NOT NULL DEFAULT '',
    dest_namespace_replace_count BIGINT NOT NULL DEFAULT -1,
    filters                     TEXT    NOT NULL DEFAULT '[]',
    trigger_json                TEXT    NOT NULL,
    replicate_deletion          BIGINT  NOT NULL DEFAULT 0,
    override_existing           BIGINT  NOT NULL DEFAULT 0,
    enabled                     BIGINT  NOT NULL DEFAULT 1,
    speed                       BIGINT  NOT NULL DEFAULT -1,
    copy_by_chunk               BIGINT  NOT NULL DEFAULT 0,
    chunk_size                  BIGINT  NOT NULL DEFAULT 0,
    single_active_replication   BIGINT  NOT NULL DEFAULT 0,
    template                    TEXT    NOT NULL,
    creation_time               BIGINT  NOT NULL,
    update_time                 BIGINT  NOT NULL
);

CREATE TABLE executions (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    policy_id      BIGINT  NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
    status         TEXT    NOT NULL,
    status_text    TEXT    NOT NULL DEFAULT '',
    trigger_type   TEXT    NOT NULL,
    single_active  BIGINT  NOT NULL DEFAULT 0,
    retry_of       BIGINT,
    start_time     BIGINT  NOT NULL,
    end_time       BIGINT,
    total          BIGINT  NOT NULL DEFAULT 0,
    succeed        BIGINT  NOT NULL DEFAULT 0,
    failed         BIGINT  NOT NULL DEFAULT 0,
    in_progress    BIGINT  NOT NULL DEFAULT 0,
    stopped        BIGINT  NOT NULL DEFAULT 0,
    bytes          BIGINT  NOT NULL DEFAULT 0,
    claimed_by     TEXT,
    lease_until    BIGINT,
    stop_requested BIGINT  NOT NULL DEFAULT 0,
    report         TEXT
);

-- At most one active execution per single-active policy, enforced by the
-- database itself: concurrent inserts of a second one fail.
CREATE UNIQUE INDEX executions_single_active
    ON executions (policy_id)
    WHERE single_active = 1 AND status IN ('pending', 'running');
CREATE INDEX executions_policy ON executions (policy_id, id);
CREATE INDEX executions_status ON executions (status, id);

CREATE TABLE tasks (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id      BIGINT  NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    repository        TEXT    NOT NULL,
    target_repository TEXT    NOT NULL,
    tag               TEXT,
    digest            TEXT,
    operation         TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    attempts          BIGINT  NOT NULL DEFAULT 0,
    stages            TEXT    NOT NULL DEFAULT '[]',
    error             TEXT,
    artifact          TEXT    NOT NULL DEFAULT 'null',
    start_time        BIGINT  NOT NULL,
    end_time          BIGINT
);
CREATE INDEX tasks_execution ON tasks (execution_id, id);
