-- histoire PostgreSQL schema, version 8: versions are kept positive by domains.
--
-- Version 1 checked `version >= 1` (events, streams) and `schema_version >= 1`
-- (events) with CHECK constraints on the tables. PostgreSQL reads a table's
-- CHECK constraints back from their stored text and prepares them again at
-- every statement that writes the table, and an append writes two: about
-- 29,000 of 347,000 server instructions per append of one event to a new
-- stream, 34,000 of 442,000 for a deposit (load and append; callgrind,
-- docs/benchmarks.md). A domain's check is kept parsed in the server's type
-- cache. It is as strict: every INSERT, UPDATE or COPY of a value into a
-- column of a domain checks it, whoever writes. Clients see the base types
-- (bigint, integer): PostgreSQL describes a domain's column by its base type.
--
-- The columns change type first, to domains without a check yet: a domain over
-- the column's own type, so nothing is rewritten and the indexes are kept.
-- Then each domain gets its check, which reads the rows once (they all pass:
-- the tables' checks held until now), and the tables' checks go.

CREATE DOMAIN {schema}.positive_bigint AS bigint;
CREATE DOMAIN {schema}.positive_integer AS integer;

ALTER TABLE {schema}.events
    ALTER COLUMN version TYPE {schema}.positive_bigint,
    ALTER COLUMN schema_version TYPE {schema}.positive_integer;
ALTER TABLE {schema}.streams
    ALTER COLUMN version TYPE {schema}.positive_bigint;

ALTER DOMAIN {schema}.positive_bigint
    ADD CONSTRAINT positive_bigint_check CHECK (VALUE >= 1);
ALTER DOMAIN {schema}.positive_integer
    ADD CONSTRAINT positive_integer_check CHECK (VALUE >= 1);

ALTER TABLE {schema}.events
    DROP CONSTRAINT events_version_check,
    DROP CONSTRAINT events_schema_version_check;
ALTER TABLE {schema}.streams
    DROP CONSTRAINT streams_version_check;
