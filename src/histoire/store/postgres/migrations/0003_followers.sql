-- histoire PostgreSQL schema, version 3: where followers record their progress.
--
-- Projections, reactions and the relay follow the log; each member of each
-- follower keeps its checkpoint in followers, written in the same transaction
-- as the read model's rows (exactly once). read_models says which generation
-- of a projection's tables serves reads; skips records who gave up on which
-- event and why; parked holds the events a reaction could not handle yet.
-- (histoire also creates them when missing, IF NOT EXISTS: this migration
-- makes them exist before several processes start at once.)

CREATE TABLE IF NOT EXISTS {schema}.histoire_followers (
    name            text    NOT NULL,
    member          integer NOT NULL,
    members         integer NOT NULL,
    commit_id       bigint  NOT NULL,
    position        bigint  NOT NULL,
    handled         bigint  NOT NULL,
    updated_at      bigint  NOT NULL,           -- microseconds since the Unix epoch, UTC
    failed_event_id text,
    error           text,
    traceback       text,
    PRIMARY KEY (name, member, members)
);

CREATE TABLE IF NOT EXISTS {schema}.histoire_skips (
    name        text   NOT NULL,
    event_id    text   NOT NULL,
    skipped_by  text   NOT NULL,
    reason      text   NOT NULL,
    skipped_at  bigint NOT NULL,
    PRIMARY KEY (name, event_id)
);

CREATE TABLE IF NOT EXISTS {schema}.histoire_read_models (
    name                 text PRIMARY KEY,
    generation           integer NOT NULL,
    version              integer NOT NULL,
    building_generation  integer,
    building_version     integer
);

CREATE TABLE IF NOT EXISTS {schema}.histoire_parked (
    name             text    NOT NULL,
    stream_id        text    NOT NULL,
    event_id         text    NOT NULL,
    commit_id        bigint  NOT NULL,
    position         bigint  NOT NULL,
    state            text    NOT NULL,
    attempts         integer NOT NULL,
    next_attempt_at  bigint,
    error            text,
    traceback        text,
    parked_at        bigint  NOT NULL,
    PRIMARY KEY (name, event_id)
);
