"""The demo's story, chapter by chapter, on the shipped examples.

Ada opens a bank account and uses it; a refusal is stored like any other
decision; her balance is rebuilt from events, then from a snapshot; an event
written by an older version of the app is read by today's code; three
customers fill carts, and the log remembers what they took out; the account is
seen as it was earlier; and Ada's request to delete her account is refused,
then accepted. Every step is real: commands go through a CommandHandler into
the store the demo was given.
"""

from __future__ import annotations

import datetime as dt
import email
import time
import uuid
from pathlib import Path
from typing import Any

from histoire.app.application import Application
from histoire.app.handler import CommandHandler
from histoire.app.projections import ProjectionRunner
from histoire.app.projections.reading import read_model
from histoire.app.reactions import ReactionRunner
from histoire.codec.codec import Codec
from histoire.codec.registry import EventRegistry
from histoire.core.errors import InvalidCommandError
from histoire.core.recorded import NewEvent, RecordedEvent
from histoire.examples import bank, cart, deletion
from histoire.examples.mailers import OutboxMailer
from histoire.examples.support import ALERTS_STREAM, make_alerts, make_support
from histoire.store.protocol import EventStore

from .narrator import Narrator, money, short

ACCOUNT = "account-ada"
CARTS = ("cart-ada", "cart-bob", "cart-chloe")
STREAMS = frozenset({ACCOUNT, *CARTS, ALERTS_STREAM})
"""Every stream the demo writes (and the only ones `--fresh` agrees to erase)."""

SNAPSHOT_EVERY = 5

ADA = {"user": "ada", "channel": "mobile app", "ip": "203.0.113.7"}
TELLER = {"user": "teller-12", "channel": "branch Lyon"}
BOB = {"user": "bob", "channel": "web shop", "ip": "198.51.100.23"}
CHLOE = {"user": "chloe", "channel": "web shop", "ip": "192.0.2.54"}
LEGACY = {"user": "nightly-batch", "channel": "bank app 1.4"}
PAYMENTS = {"user": "payments", "channel": "checkout reaction"}


class Story:
    """The demo: a store, the example deciders, and a narrator."""

    def __init__(self, store: EventStore, narrator: Narrator, outbox: Path) -> None:
        self.store = store
        self.outbox = outbox
        self.say = narrator
        self.accounts = CommandHandler(
            store,
            bank.make_decider(snapshot_every=SNAPSHOT_EVERY),
            upcasters=bank.make_upcasters(),
        )
        self.carts = CommandHandler(store, cart.make_decider())
        self.codec = Codec(EventRegistry(bank.EVENTS), bank.make_upcasters())
        self.earlier: dt.datetime | None = None

    def tell(self) -> None:
        self.start()
        self.commands_decisions_events()
        self.state_from_events()
        self.snapshots()
        self.upcasting()
        self.carts_and_what_they_lost()
        self.back_in_time()
        self.deletion()

    # -- helpers --------------------------------------------------------------

    def _handle(
        self,
        handler: CommandHandler[Any, Any, Any],
        stream_id: str,
        command: Any,
        who: dict[str, str],
        *,
        causation_id: uuid.UUID | None = None,
        correlation_id: uuid.UUID | None = None,
    ) -> Any:
        """Send `command`, print the decision; return the result (None if malformed)."""
        self.say.command(stream_id, command, who)
        version = self.store.stream_version(stream_id)
        try:
            result = handler.handle(
                stream_id,
                command,
                metadata=who,
                causation_id=causation_id,
                correlation_id=correlation_id,
            )
        except InvalidCommandError as error:
            self.say.malformed(error, stream_id, version)
            return None
        self.say.outcome(result)
        return result

    def _balance(self) -> str:
        return money(self.accounts.load(ACCOUNT).state.balance_cents)

    # -- chapters ---------------------------------------------------------------

    def start(self) -> None:
        self.say.opening(
            "histoire: the demo",
            "An event-sourced system never stores its state. It stores every event that\n"
            "happened, in order, forever, and derives the state from them.\n"
            f"This demo writes its story into [bold]{self.store.url}[/].",
        )

    def commands_decisions_events(self) -> None:
        self.say.chapter(
            1,
            "Commands, decisions, events",
            "A command asks for a change. A decider takes a decision: a list of events.\n"
            "A refusal is a decision too, stored as an event. Each event gets a version\n"
            "in its stream and a position in the global log.",
        )
        accounts = self.accounts
        self._handle(accounts, ACCOUNT, bank.OpenAccount(owner="Ada Lovelace"), TELLER)
        self._handle(accounts, ACCOUNT, bank.Deposit(amount_cents=12_000), TELLER)
        self._handle(accounts, ACCOUNT, bank.Withdraw(amount_cents=3_000), ADA)
        self._handle(accounts, ACCOUNT, bank.Withdraw(amount_cents=50_000), ADA)
        self.say.say("The bank now knows, forever, that Ada asked for 500.00 EUR and was refused.")
        self.say.blank()
        self.say.say("Malformed input is not a decision. It is an error, and nothing is stored:")
        self._handle(accounts, ACCOUNT, bank.Deposit(amount_cents=-500), ADA)
        self.say.blank()
        self.say.say(
            "Each event carries its metadata (who, from where) and causal ids. "
            "Causation: what caused it (here, the command). Correlation: the "
            "conversation it belongs to. A free audit trail:"
        )
        self.say.audit_table(self.store.read_stream(ACCOUNT), title=f"The stream {ACCOUNT}")

    def state_from_events(self) -> None:
        self.say.chapter(
            2,
            "State is rebuilt from events",
            "No balance was ever written. The state is folded from the events, one by one,\n"
            "with the decider's evolve function, starting from an empty account.",
        )
        decider = self.accounts.decider
        state = decider.initial_state()
        rows = []
        for record in self.store.read_stream(ACCOUNT):
            event = self.codec.decode(record)
            state = decider.evolve(state, event)  # type: ignore[arg-type]
            rows.append([str(record.version), record.type, money(state.balance_cents)])
        self.say.table(f"Folding {ACCOUNT}", ["Version", "Event", "Balance after it"], rows)
        loaded = self.accounts.load(ACCOUNT)
        self.say.say(
            f"CommandHandler.load gives the same: version {loaded.version}, "
            f"balance {money(loaded.state.balance_cents)}, owner {loaded.state.owner}."
        )
        time.sleep(0.002)
        self.earlier = dt.datetime.now(dt.UTC)
        time.sleep(0.002)
        self.say.say(
            f"It is now {self.earlier:%H:%M:%S.%f} UTC. Remember this instant: chapter 6 "
            "comes back to it."
        )

    def snapshots(self) -> None:
        self.say.chapter(
            3,
            "A snapshot, taken and used",
            f"Accounts live long. Every {SNAPSHOT_EVERY} events, the handler saves a snapshot "
            "of the state,\nso that loading starts from it and replays only the events after it.",
        )
        for cents in (1_000, 1_500, 500):
            self._handle(self.accounts, ACCOUNT, bank.Deposit(amount_cents=cents), ADA)
        snapshot = self.store.load_snapshot(
            ACCOUNT, name=self.accounts.decider.name, schema_version=1
        )
        if snapshot is not None:
            self.say.say(
                f"A snapshot was saved at version {snapshot.version}: "
                f"[dim]{bytes(snapshot.data).decode()}[/]"
            )
        loaded = self.accounts.load(ACCOUNT)
        replayed = loaded.version - loaded.snapshot_version
        self.say.say(
            f"Loading {ACCOUNT} now starts from the snapshot at version "
            f"[bold]{loaded.snapshot_version}[/] and replays {replayed} events "
            f"(versions {loaded.snapshot_version + 1}..{loaded.version}): "
            f"balance {money(loaded.state.balance_cents)}."
        )
        full = CommandHandler(self.store, bank.make_decider(), codec=self.codec).load(ACCOUNT)
        same = "the same" if full.state == loaded.state else "NOT the same"
        self.say.say(
            f"A full replay of all {full.version} events gives {same} state. "
            "A snapshot is only a cache: the events stay the truth."
        )

    def upcasting(self) -> None:
        self.say.chapter(
            4,
            "An old event, read by today's code",
            "Version 1 of the bank app stored deposits as a float amount of euros.\n"
            "Today a deposit is integer cents plus a currency: schema version 2.\n"
            "A nightly batch still running version 1 writes one, the old way:",
        )
        old = NewEvent(
            event_id=uuid.uuid4(),
            type=bank.Deposited.type_name,
            schema_version=1,
            data=b'{"amount": 12.5}',
            metadata=LEGACY,
        )
        version = self.store.stream_version(ACCOUNT)
        appended = self.store.append(ACCOUNT, [old], expected_version=version)
        stored = appended.events[0]
        self.say.events_table([stored], title="As stored")
        event = self.codec.decode(stored)
        self.say.say(
            f"Read through the codec, the upcaster turns it into schema v{event.schema_version}:"
        )
        self.say.plain(f"  {event!r}")
        again = self.store.get_event(stored.event_id)
        unchanged = (
            again is not None
            and again.schema_version == 1
            and bytes(again.data) == b'{"amount": 12.5}'
        )
        self.say.say(
            "Upcasting happens on read only. The stored row is "
            + ("[bold]unchanged[/]: schema v1, " if unchanged else "[red]CHANGED[/]: ")
            + '{"amount": 12.5}.'
        )
        loaded = self.accounts.load(ACCOUNT)
        self.say.say(
            f"The balance counts it: {money(loaded.state.balance_cents)} "
            f"(loaded from the snapshot at version {loaded.snapshot_version}, "
            f"then {loaded.version - loaded.snapshot_version} events, the old one included)."
        )

    def carts_and_what_they_lost(self) -> None:
        self.say.chapter(
            5,
            "Carts, and what a state-storing system would have lost",
            "Three customers shop. Adding to a checked-out cart, or checking out an empty\n"
            "one, is refused. When Ada checks out, a reaction makes her pay: its event\n"
            "names the checkout as its cause and shares its correlation id.",
        )
        carts = self.carts
        self._handle(
            carts,
            "cart-ada",
            cart.AddItem(product_id="book", quantity=2, unit_price_cents=1_500),
            ADA,
        )
        self._handle(carts, "cart-ada", cart.AddItem(product_id="mug", unit_price_cents=800), ADA)
        self._handle(carts, "cart-ada", cart.RemoveItem(product_id="mug"), ADA)
        checkout = self._handle(carts, "cart-ada", cart.CheckOut(), ADA)
        self._handle(carts, "cart-bob", cart.AddItem(product_id="tea", unit_price_cents=450), BOB)
        self._handle(carts, "cart-bob", cart.AddItem(product_id="mug", unit_price_cents=800), BOB)
        self._handle(carts, "cart-bob", cart.RemoveItem(product_id="mug"), BOB)
        self._handle(carts, "cart-bob", cart.RemoveItem(product_id="tea"), BOB)
        self._handle(carts, "cart-bob", cart.CheckOut(), BOB)
        self._handle(
            carts, "cart-chloe", cart.AddItem(product_id="mug", unit_price_cents=800), CHLOE
        )
        self._handle(carts, "cart-chloe", cart.CheckOut(), CHLOE)
        self._handle(
            carts, "cart-chloe", cart.AddItem(product_id="book", unit_price_cents=1_500), CHLOE
        )
        self.say.blank()
        if checkout is not None:
            checked_out = checkout.events[0]
            total = checkout.decided[0].total_cents
            self.say.say("The payment reaction reads the checkout and sends a command:")
            payment = self._handle(
                self.accounts,
                ACCOUNT,
                bank.Withdraw(amount_cents=total),
                PAYMENTS,
                causation_id=checked_out.event_id,
                correlation_id=checked_out.correlation_id or checked_out.event_id,
            )
            if payment is not None:
                self.say.causal_table(
                    [checked_out, *payment.events],
                    title=f"The payment was caused by the checkout {short(checked_out.event_id)}",
                )
        self.say.blank()
        now = [(cart_id, self.carts.load(cart_id).state) for cart_id in CARTS]
        self.say.table(
            "What the carts hold now: all a state-storing system would keep",
            ["Cart", "Contents", "Checked out"],
            [
                [
                    cart_id,
                    ", ".join(
                        f"{line.quantity} x {product}" for product, line in state.lines.items()
                    )
                    or "(empty)",
                    "yes" if state.checked_out else "no",
                ]
                for cart_id, state in now
            ],
        )
        # A projection: caught up from the global log, then read from its read model.
        ProjectionRunner(self.store, cart.removed_products, codec=self.carts.codec).run()
        with read_model(self.store, cart.removed_products) as view:
            removed = cart.removed_products_in(view)
        self.say.table(
            'A projection of the global log: "every product ever removed from a cart"',
            ["Product", "Removals", "Quantity", "From carts", "Last at position"],
            [
                [
                    p.product_id,
                    str(p.removals),
                    str(p.quantity),
                    ", ".join(p.carts),
                    str(p.last_position),
                ]
                for p in removed
            ],
        )
        self.say.say(
            "No cart holds a mug or tea any more, yet the log knows both were taken out. "
            "Since day one, for every cart: nothing is lost."
        )

    def back_in_time(self) -> None:
        self.say.chapter(
            6,
            "Back in time",
            "The log keeps every past state within reach: at a version, or as of an instant.",
        )
        if self.earlier is not None:
            then = self.accounts.load(ACCOUNT, as_of=self.earlier)
            self.say.say(
                f"As of {self.earlier:%H:%M:%S.%f} UTC (end of chapter 2): version {then.version}, "
                f"balance {money(then.state.balance_cents)}."
            )
        second = self.accounts.load(ACCOUNT, at_version=2)
        self.say.say(
            f"At version 2 (after the first deposit): balance {money(second.state.balance_cents)}."
        )
        now = self.accounts.load(ACCOUNT)
        self.say.say(f"Now: version {now.version}, balance {money(now.state.balance_cents)}.")

    def deletion(self) -> None:
        self.say.chapter(
            7,
            "Deleting an account",
            "Ada moves abroad and asks to delete her account. The account-deletion decider\n"
            "refuses while the balance is not zero. Deleting erases nothing: it is one more event.",
        )
        accounts = CommandHandler(
            self.store, deletion.make_decider(), upcasters=deletion.make_upcasters()
        )
        refusal = self._handle(
            accounts, ACCOUNT, deletion.DeleteAccount(reason="moving abroad"), ADA
        )
        self._react(refusal.events[0])
        balance = accounts.load(ACCOUNT).state.account.balance_cents
        self._handle(accounts, ACCOUNT, bank.Withdraw(amount_cents=balance), TELLER)
        self._handle(accounts, ACCOUNT, deletion.DeleteAccount(reason="moving abroad"), ADA)
        self._handle(accounts, ACCOUNT, bank.Deposit(amount_cents=100), TELLER)
        self.say.blank()
        self.say.events_table(
            self.store.read_stream(ACCOUNT),
            title=f"The whole history of {ACCOUNT}, deletion included",
        )

    def _react(self, refusal: RecordedEvent) -> None:
        """The seed's reaction: the refusal raises an alert and mails the support."""
        support = make_support(OutboxMailer(self.outbox))
        app = Application(
            name="demo",
            deciders=[deletion.make_decider(), make_alerts()],
            upcasters=deletion.make_upcasters(),
            reactions=[support],
        )
        ReactionRunner(self.store, support, app=app).run()
        self.say.blank()
        self.say.say(
            "A reaction follows the log. For the refusal it raised an alert, caused by the "
            "refusal, and mailed the support (no SMTP server needed here: the mail is a file "
            f"in {self.outbox}/):"
        )
        self.say.causal_table(
            [refusal, *self.store.read_stream(ALERTS_STREAM)],
            title="The refusal and the alert it caused",
        )
        mail = self.outbox / f"{refusal.event_id}.eml"
        message = email.message_from_bytes(mail.read_bytes())
        self.say.plain(
            f"To: {message['To']}\nSubject: {message['Subject']}\n\n"
            f"{message.get_payload()}".rstrip()
        )
        self.say.blank()
