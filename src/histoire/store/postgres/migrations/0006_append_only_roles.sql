-- histoire PostgreSQL schema, version 6: an application role appends only through append_events.
--
-- append_events runs with the rights of its owner, the schema's owner (who
-- runs the migrations), so that the application's role needs no INSERT on
-- events and no write on streams: it cannot insert a row with a forged
-- transaction id, position or version, only call the function, which takes
-- them from the server. A SECURITY DEFINER function must not resolve a name
-- through the caller's search_path (a caller could put its own now() or
-- operator first): it runs with pg_catalog then pg_temp only, every table
-- name in its body is schema-qualified. And only the roles granted EXECUTE
-- may call it (docs/postgres.md, "Roles").
--
-- ALTER FUNCTION, not CREATE OR REPLACE: the body stays that of the latest
-- earlier migration. A later migration that replaces append_events must say
-- SECURITY DEFINER and SET search_path again (CREATE OR REPLACE resets both);
-- tests/guarantees/test_postgres_roles.py fails otherwise, and so does verify.

ALTER FUNCTION {schema}.append_events(
    text, text, bigint, uuid[], text[], integer[], bytea[], jsonb[], uuid[], uuid[]
) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION {schema}.append_events(
    text, text, bigint, uuid[], text[], integer[], bytea[], jsonb[], uuid[], uuid[]
) FROM PUBLIC;

-- Whose checkpoint a follower's row is. With row-level security enabled on
-- the table (ALTER TABLE ... ENABLE ROW LEVEL SECURITY, by the owner: off by
-- default), a role reads every checkpoint but changes only the rows it
-- wrote: one projection's worker cannot move another role's checkpoint.
ALTER TABLE {schema}.histoire_followers
    ADD COLUMN IF NOT EXISTS owner_role text NOT NULL DEFAULT current_user;

CREATE POLICY followers_read ON {schema}.histoire_followers
    FOR SELECT USING (true);
CREATE POLICY followers_insert_own ON {schema}.histoire_followers
    FOR INSERT WITH CHECK (owner_role = current_user);
CREATE POLICY followers_update_own ON {schema}.histoire_followers
    FOR UPDATE USING (owner_role = current_user) WITH CHECK (owner_role = current_user);
CREATE POLICY followers_delete_own ON {schema}.histoire_followers
    FOR DELETE USING (owner_role = current_user);
