-- A registry's own bounds on Ferry's requests, across every execution on a
-- coordinator: requests started per second, and requests in flight. NULL:
-- no bound.
ALTER TABLE registries ADD COLUMN requests_per_second BIGINT;
ALTER TABLE registries ADD COLUMN max_concurrency BIGINT;
