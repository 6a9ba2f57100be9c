-- histoire PostgreSQL schema, version 5: an append to a new stream inserts first.
--
-- With NO_STREAM (expected version 0) the stream must not exist yet. Version 2's
-- append_events still tried an UPDATE of the stream's row, then a SELECT, before
-- the INSERT that creates it: two index lookups that could only miss. Now it
-- inserts the stream's row at once (ON CONFLICT DO NOTHING), and reads the
-- stream's version only when that insert found it taken. Everything else
-- (the advisory lock per stream, last_xid, the checks, NOTIFY) is version 2's.

-- Same signature as before: processes started before the migration keep working.
CREATE OR REPLACE FUNCTION {schema}.append_events(
    p_stream_id text,
    p_category text,
    p_expected bigint,
    p_event_ids uuid[],
    p_types text[],
    p_schema_versions integer[],
    p_data bytea[],
    p_metadata jsonb[],
    p_causation_ids uuid[],
    p_correlation_ids uuid[],
    OUT o_actual bigint,
    OUT o_positions bigint[],
    OUT o_xid bigint,
    OUT o_recorded_at timestamptz
)
LANGUAGE plpgsql AS $$
DECLARE
    n integer := cardinality(p_event_ids);
    last_writer bigint;
BEGIN
    IF n IS NULL OR n = 0 OR cardinality(p_types) <> n OR cardinality(p_schema_versions) <> n
        OR cardinality(p_data) <> n OR cardinality(p_metadata) <> n
        OR cardinality(p_causation_ids) <> n OR cardinality(p_correlation_ids) <> n THEN
        RAISE EXCEPTION 'histoire: append_events needs arrays of one same, non-zero length'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Held to the end of the transaction; waits only for writers of this stream.
    -- The key mixes in the schema's channel name: another schema's stream of the
    -- same name is another lock.
    PERFORM pg_advisory_xact_lock(hashtextextended(p_stream_id, hashtext({channel})));
    o_recorded_at := now();
    IF p_expected = 0 THEN
        -- NO_STREAM: the stream must be new, so create it first. A stream that
        -- exists conflicts with the insert, which then writes nothing.
        INSERT INTO {schema}.streams (stream_id, category, version, updated_at, last_xid)
        VALUES (p_stream_id, p_category, n, o_recorded_at, pg_current_xact_id()::text::bigint)
        ON CONFLICT (stream_id) DO NOTHING;
        IF NOT FOUND THEN
            SELECT s.version INTO o_actual FROM {schema}.streams AS s WHERE s.stream_id = p_stream_id;
            RETURN;                                 -- wrong expected version
        END IF;
        o_actual := 0;
    ELSE
        -- The transaction id is assigned here (unless the transaction wrote before),
        -- and only when something is written: a wrong expected version costs no id.
        UPDATE {schema}.streams AS s
           SET version = s.version + n, updated_at = o_recorded_at,
               last_xid = greatest(s.last_xid, pg_current_xact_id()::text::bigint)
         WHERE s.stream_id = p_stream_id AND (p_expected < 0 OR s.version = p_expected)
        RETURNING s.version - n, s.last_xid INTO o_actual, last_writer;
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
            VALUES (p_stream_id, p_category, n, o_recorded_at, pg_current_xact_id()::text::bigint);
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

    IF n = 1 THEN                                   -- the usual case, without unnest
        INSERT INTO {schema}.events AS e
            (event_id, stream_id, category, version, type, schema_version, data, metadata,
             causation_id, correlation_id, recorded_at)
        VALUES (p_event_ids[1], p_stream_id, p_category, o_actual + 1, p_types[1],
                p_schema_versions[1], p_data[1], p_metadata[1], p_causation_ids[1],
                p_correlation_ids[1], o_recorded_at)
        RETURNING ARRAY[e.position] INTO o_positions;
    ELSE
        WITH inserted AS (
            INSERT INTO {schema}.events AS e
                (event_id, stream_id, category, version, type, schema_version, data, metadata,
                 causation_id, correlation_id, recorded_at)
            SELECT u.event_id, p_stream_id, p_category, o_actual + u.ord, u.type, u.schema_version,
                   u.data, u.metadata, u.causation_id, u.correlation_id, o_recorded_at
              FROM unnest(p_event_ids, p_types, p_schema_versions, p_data, p_metadata,
                          p_causation_ids, p_correlation_ids)
                   WITH ORDINALITY AS u(event_id, type, schema_version, data, metadata,
                                        causation_id, correlation_id, ord)
             ORDER BY u.ord
            RETURNING e.position, e.version
        )
        SELECT array_agg(i.position ORDER BY i.version) INTO o_positions FROM inserted AS i;
    END IF;
    -- Delivered at commit; the payload tells followers which transaction to wait for.
    PERFORM pg_notify({channel}, o_xid::text);
END
$$;
