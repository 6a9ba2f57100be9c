-- histoire PostgreSQL schema, version 9: when a follower's runner stopped.
--
-- A runner that ends cleanly (caught up with --once, or told to stop) records
-- when, so that status says it stopped at once instead of "running" until its
-- last progress grows old. NULL while one runs, or after one was killed.

ALTER TABLE {schema}.histoire_followers ADD COLUMN IF NOT EXISTS stopped_at bigint;
