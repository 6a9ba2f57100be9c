-- histoire SQLite schema, version 1.
-- Events are immutable: triggers refuse UPDATE and DELETE.
-- A stream's version is max(version) of its events (the UNIQUE index answers it):
-- no second table to keep in step on every append.

CREATE TABLE histoire_events (
    position        INTEGER PRIMARY KEY,          -- global log order, 1, 2, 3, ...
    event_id        BLOB    NOT NULL UNIQUE,       -- 16-byte UUID
    stream_id       TEXT    NOT NULL,
    category        TEXT    NOT NULL,
    version         INTEGER NOT NULL CHECK (version >= 1),
    type            TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL CHECK (schema_version >= 1),
    data            BLOB    NOT NULL,              -- JSON payload as encoded
    metadata        BLOB    NOT NULL,              -- JSON object
    causation_id    BLOB,
    correlation_id  BLOB,
    recorded_at     INTEGER NOT NULL,              -- microseconds since the Unix epoch, UTC
    UNIQUE (stream_id, version)
);

CREATE INDEX histoire_events_by_category ON histoire_events (category, position);

CREATE TABLE histoire_snapshots (
    stream_id       TEXT    NOT NULL,
    name            TEXT    NOT NULL,              -- whose state: the decider's name
    schema_version  INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    data            BLOB    NOT NULL,
    recorded_at     INTEGER NOT NULL,
    PRIMARY KEY (stream_id, name, schema_version, version)
) WITHOUT ROWID;

CREATE TRIGGER histoire_events_no_update BEFORE UPDATE ON histoire_events
BEGIN
    SELECT RAISE(ABORT, 'histoire: stored events are immutable (UPDATE refused)');
END;

CREATE TRIGGER histoire_events_no_delete BEFORE DELETE ON histoire_events
BEGIN
    SELECT RAISE(ABORT, 'histoire: stored events are immutable (DELETE refused)');
END;

-- INSERT OR REPLACE would delete a conflicting event without firing the DELETE
-- trigger (recursive_triggers is off by default): refuse any insert that
-- conflicts, before SQLite's conflict resolution can run.
CREATE TRIGGER histoire_events_no_replace_id BEFORE INSERT ON histoire_events
WHEN EXISTS (SELECT 1 FROM histoire_events WHERE event_id = NEW.event_id)
BEGIN
    SELECT RAISE(ABORT, 'histoire: this event_id is already stored (events are immutable)');
END;

CREATE TRIGGER histoire_events_no_replace_place BEFORE INSERT ON histoire_events
WHEN EXISTS (SELECT 1 FROM histoire_events WHERE position = NEW.position)
  OR EXISTS (SELECT 1 FROM histoire_events
             WHERE stream_id = NEW.stream_id AND version = NEW.version)
BEGIN
    SELECT RAISE(ABORT, 'histoire: this position or stream version is taken (events are immutable)');
END;
