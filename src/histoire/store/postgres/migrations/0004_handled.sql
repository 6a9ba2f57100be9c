-- histoire PostgreSQL schema, version 4: what followers fed from a broker applied.
--
-- A broker may deliver an event twice; such a follower records each stream's
-- last applied version in the same transaction as its read model, and drops
-- what it already applied (histoire.store.applied; also created when missing).

CREATE TABLE IF NOT EXISTS {schema}.histoire_handled (
    name       text   NOT NULL,
    stream_id  text   NOT NULL,
    version    bigint NOT NULL,
    PRIMARY KEY (name, stream_id)
);
