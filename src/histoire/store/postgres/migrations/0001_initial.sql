-- histoire PostgreSQL schema, version 1.
--
-- {schema} is replaced by the quoted schema name and {channel} by the quoted
-- NOTIFY channel when the migration is applied (histoire.store.postgres_schema),
-- so that several applications can share one database, one schema each.
--
-- Log order is (xid, position): `xid` is the writing transaction's id
-- (pg_current_xact_id()), `position` a sequence value. Readers only see rows
-- of transactions below the oldest running one (pg_snapshot_xmin), so that a
-- transaction that took low positions and commits late is never skipped.

CREATE TABLE {schema}.events (
    xid             bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    position        bigint      GENERATED ALWAYS AS IDENTITY,
    version         bigint      NOT NULL CHECK (version >= 1),
    event_id        uuid        NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    schema_version  integer     NOT NULL CHECK (schema_version >= 1),
    stream_id       text        COLLATE "C" NOT NULL,
    category        text        COLLATE "C" NOT NULL,
    type            text        COLLATE "C" NOT NULL,
    causation_id    uuid,
    correlation_id  uuid,
    metadata        jsonb       NOT NULL DEFAULT '{}',
    data            bytea       NOT NULL,               -- the payload's bytes, exactly as encoded
    CONSTRAINT events_pkey PRIMARY KEY (xid, position),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version)
);

CREATE INDEX events_category_idx ON {schema}.events (category, xid, position);

-- One row per stream: its version, and the row an append locks. Appends to
-- different streams lock different rows and never wait on each other.
CREATE TABLE {schema}.streams (
    stream_id   text        COLLATE "C" PRIMARY KEY,
    category    text        COLLATE "C" NOT NULL,
    version     bigint      NOT NULL CHECK (version >= 1),
    updated_at  timestamptz NOT NULL
) WITH (fillfactor = 80);

CREATE INDEX streams_category_idx ON {schema}.streams (category, stream_id);

CREATE TABLE {schema}.snapshots (
    stream_id       text        COLLATE "C" NOT NULL,
    name            text        COLLATE "C" NOT NULL,   -- whose state: the decider's name
    schema_version  integer     NOT NULL,
    version         bigint      NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    data            bytea       NOT NULL,
    PRIMARY KEY (stream_id, name, schema_version, version)
);

-- Stored events are immutable: any UPDATE, DELETE or TRUNCATE is refused.
CREATE FUNCTION {schema}.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'histoire: stored events are immutable (% refused on %.%)',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER events_no_update BEFORE UPDATE ON {schema}.events
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_change();
CREATE TRIGGER events_no_delete BEFORE DELETE ON {schema}.events
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON {schema}.events
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_change();

-- Appends events to one stream in one call (one round trip).
--
-- p_expected: -1 any version, -2 the stream must exist, n >= 0 exactly n
-- events (0: the stream must not exist). On a wrong expected version nothing
-- is written and o_positions is NULL; o_actual is the stream's version.
-- An event id already stored raises unique_violation on events_event_id_key:
-- the caller then reads the stored events to tell a replay from a conflict.
CREATE FUNCTION {schema}.append_events(
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
    attempt integer := 0;
BEGIN
    IF n IS NULL OR n = 0 OR cardinality(p_types) <> n OR cardinality(p_schema_versions) <> n
        OR cardinality(p_data) <> n OR cardinality(p_metadata) <> n
        OR cardinality(p_causation_ids) <> n OR cardinality(p_correlation_ids) <> n THEN
        RAISE EXCEPTION 'histoire: append_events needs arrays of one same, non-zero length'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    o_recorded_at := now();
    LOOP
        -- Locks this stream's row only; waits only for writers of this stream.
        UPDATE {schema}.streams AS s
           SET version = s.version + n, updated_at = o_recorded_at
         WHERE s.stream_id = p_stream_id AND (p_expected < 0 OR s.version = p_expected)
        RETURNING s.version - n INTO o_actual;
        EXIT WHEN FOUND;
        SELECT s.version INTO o_actual FROM {schema}.streams AS s WHERE s.stream_id = p_stream_id;
        IF FOUND THEN
            RETURN;                                 -- wrong expected version
        END IF;
        o_actual := 0;
        IF p_expected > 0 OR p_expected = -2 THEN
            RETURN;                                 -- the stream does not exist
        END IF;
        INSERT INTO {schema}.streams (stream_id, category, version, updated_at)
        VALUES (p_stream_id, p_category, n, o_recorded_at)
        ON CONFLICT (stream_id) DO NOTHING;
        EXIT WHEN FOUND;
        -- Another writer created the stream meanwhile: check against its row.
        attempt := attempt + 1;
        IF attempt > 3 THEN
            RAISE EXCEPTION 'histoire: stream % keeps changing under this append', p_stream_id
                USING ERRCODE = 'serialization_failure';
        END IF;
    END LOOP;

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
    o_xid := pg_current_xact_id()::text::bigint;
    -- Delivered at commit; the payload tells followers which transaction to wait for.
    PERFORM pg_notify({channel}, o_xid::text);
END
$$;
