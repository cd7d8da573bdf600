-- Blob copies under way, shared by every coordinator on the database: one
-- copy of a blob into a target repository at a time, whichever coordinator
-- (an execution, or a copy started by a registry event) moves it. The key
-- is "<target URL> <repository> <digest>". A holder renews its claim while
-- it copies; a claim past `until` was left by a coordinator that died.
CREATE TABLE blob_moves (
    key     TEXT   NOT NULL PRIMARY KEY,
    holder  TEXT   NOT NULL,
    until   BIGINT NOT NULL
);
