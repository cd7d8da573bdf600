-- Web console sessions: signing in with the admin token gives an HttpOnly
-- cookie; its SHA-256 is kept here (the cookie itself is not), with the
-- CSRF token that the session's writes must carry. Shared by every
-- coordinator on the database, so any of them serves a signed-in console.
CREATE TABLE sessions (
    id_hash     TEXT   NOT NULL PRIMARY KEY,
    csrf_token  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
