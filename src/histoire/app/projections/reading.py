"""Reading a projection's read model: the generation that serves reads, in a transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from histoire.app.projections import generations
from histoire.app.projections.context import ProjectionContext
from histoire.app.projections.definition import Projection
from histoire.core.errors import InvalidInputError
from histoire.store.protocol import EventStore
from histoire.store.transactions import TransactionalStore


@contextmanager
def read_model(store: EventStore, projection: Projection | str) -> Iterator[ProjectionContext]:
    """The serving generation of `projection`'s read model, in a read-only transaction::

        with read_model(store, balances) as view:
            view.documents("accounts").get("account-1")
            view.execute(f"SELECT count(*) FROM {view.table('accounts')}")

    While a new generation is being built, reads keep coming from the old one.
    """
    name = projection if isinstance(projection, str) else projection.name
    if not isinstance(store, TransactionalStore):
        raise InvalidInputError(f"{store.url}: this store holds no read models")
    with store.transaction(read_only=True) as tx:
        generation = generations.serving(tx, name)
        if generation is None:
            raise InvalidInputError(
                f"projection {name!r} has never run on {store.url}: "
                "run it first (histoire projections run)"
            )
        yield ProjectionContext(tx, name, generation, writing=False)
