"""The PostgreSQL backend: one schema, any managed or replicated cluster.

`store` is the event store; around it, one concept per module: the schema and
its numbered migrations (`schema`, `migrations/`), the SQL text (`sql`),
connections and their type adapters (`connect`, `arrays`), the pool (`pool`),
LISTEN/NOTIFY (`listen`), error conversion (`errors`) and the storage
self-checks (`checks`).
"""

from histoire.store.postgres.store import PostgresEventStore, migrate

__all__ = ["PostgresEventStore", "migrate"]
