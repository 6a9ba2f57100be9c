-- histoire PostgreSQL schema, version 7: an append of one event takes plain parameters.
--
-- Most appends carry one event (a command decides one fact). append_events
-- takes one array per column; for one event the server then checked seven
-- array lengths, built seven subscript expressions per insert and an array of
-- one position, and the client encoded seven arrays: about 15% of the
-- server's instructions per append (callgrind, docs/benchmarks.md). append_event
-- does the same for one event, with scalar parameters. Its logic is
-- append_events' (versions 2 and 5) for n = 1, step for step: the advisory
-- lock per stream before the transaction id, NO_STREAM inserting the stream's
-- row first, last_xid, the checks, NOTIFY. On a wrong expected version it
-- writes nothing and o_position is NULL. append_events stays, for several
-- events (and for processes started before this migration).
--
-- It is guarded as append_events is since version 6: SECURITY DEFINER, its own
-- search_path, not PUBLIC. Every role that may run append_events may run
-- append_event too, so that upgrading needs no new GRANT.
--
-- streams_category_idx goes: a stream's category is what comes before the
-- first '-' of its id, so the streams of a category lie in one range of the
-- primary key (stream_id, collation "C"), from the category to the category
-- followed by '.', the character after '-'. list_streams(category) reads that
-- range; a new stream no longer writes a third index entry.

CREATE FUNCTION {schema}.append_event(
    p_stream_id text,
    p_category text,
    p_expected bigint,
    p_event_id uuid,
    p_type text,
    p_schema_version integer,
    p_data bytea,
    p_metadata jsonb,
    p_causation_id uuid,
    p_correlation_id uuid,
    OUT o_actual bigint,
    OUT o_position bigint,
    OUT o_xid bigint,
    OUT o_recorded_at timestamptz
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    last_writer bigint;
BEGIN
    -- The stream's lock, before the transaction id (see version 2).
    PERFORM pg_advisory_xact_lock(hashtextextended(p_stream_id, hashtext({channel})));
    o_recorded_at := now();
    IF p_expected = 0 THEN
        -- NO_STREAM: create the stream's row first (see version 5).
        INSERT INTO {schema}.streams (stream_id, category, version, updated_at, last_xid)
        VALUES (p_stream_id, p_category, 1, o_recorded_at, pg_current_xact_id()::text::bigint)
        ON CONFLICT (stream_id) DO NOTHING;
        IF NOT FOUND THEN
            SELECT s.version INTO o_actual FROM {schema}.streams AS s WHERE s.stream_id = p_stream_id;
            RETURN;                                 -- wrong expected version
        END IF;
        o_actual := 0;
    ELSE
        UPDATE {schema}.streams AS s
           SET version = s.version + 1, updated_at = o_recorded_at,
               last_xid = greatest(s.last_xid, pg_current_xact_id()::text::bigint)
         WHERE s.stream_id = p_stream_id AND (p_expected < 0 OR s.version = p_expected)
        RETURNING s.version - 1, s.last_xid INTO o_actual, last_writer;
        IF NOT FOUND THEN
            SELECT s.version INTO o_actual FROM {schema}.streams AS s WHERE s.stream_id = p_stream_id;
            IF FOUND THEN
                RETURN;                                 -- wrong expected version
            END IF;
            o_actual := 0;
            IF p_expected > 0 OR p_expected = -2 THEN
                RETURN;                                 -- the stream does not exist
            END IF;
            -- No other append can create the stream meanwhile: it would need the lock.
            INSERT INTO {schema}.streams (stream_id, category, version, updated_at, last_xid)
            VALUES (p_stream_id, p_category, 1, o_recorded_at, pg_current_xact_id()::text::bigint);
        END IF;
    END IF;
    o_xid := pg_current_xact_id()::text::bigint;
    IF last_writer > o_xid THEN
        RAISE EXCEPTION 'histoire: cannot append to stream % in transaction %: the younger '
            'transaction % has appended to it since this one began writing, and the log '
            'would give this one''s events first. Retry the whole transaction',
            p_stream_id, o_xid, last_writer
            USING ERRCODE = 'serialization_failure';
    END IF;
    INSERT INTO {schema}.events AS e
        (event_id, stream_id, category, version, type, schema_version, data, metadata,
         causation_id, correlation_id, recorded_at)
    VALUES (p_event_id, p_stream_id, p_category, o_actual + 1, p_type, p_schema_version,
            p_data, p_metadata, p_causation_id, p_correlation_id, o_recorded_at)
    RETURNING e.position INTO o_position;
    -- Delivered at commit; the payload tells followers which transaction to wait for.
    PERFORM pg_notify({channel}, o_xid::text);
END
$$;

REVOKE ALL ON FUNCTION {schema}.append_event(
    text, text, bigint, uuid, text, integer, bytea, jsonb, uuid, uuid
) FROM PUBLIC;

-- The roles that may append through append_events (GRANTed since version 6)
-- may through append_event too.
DO $$
DECLARE
    role_name text;
BEGIN
    FOR role_name IN
        SELECT quote_ident(r.rolname)
          FROM pg_proc AS p
               CROSS JOIN LATERAL aclexplode(p.proacl) AS a
               JOIN pg_roles AS r ON r.oid = a.grantee
         WHERE p.oid = '{schema}.append_events(text, text, bigint, uuid[], text[], integer[], '
                       'bytea[], jsonb[], uuid[], uuid[])'::regprocedure
           AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
    LOOP
        EXECUTE 'GRANT EXECUTE ON FUNCTION {schema}.append_event(text, text, bigint, uuid, '
                'text, integer, bytea, jsonb, uuid, uuid) TO ' || role_name;
    END LOOP;
END
$$;

DROP INDEX {schema}.streams_category_idx;
