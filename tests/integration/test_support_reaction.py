"""The seed's scenario end to end: a refused account deletion mails the support (a real SMTP
server, started here) and raises an alert caused by the refusal. With the server down the
mail is retried, then parked, then delivered after a retry once the server is back; nothing
is sent twice."""

from __future__ import annotations

import email
import socket
import time
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from histoire import Application, EventStore
from histoire.app.reactions import ReactionRunner
from histoire.examples import bank, deletion
from histoire.examples.mailers import SMTPMailer
from histoire.examples.support import ALERTS_STREAM, make_alerts, make_support
from histoire.store import parking


class Inbox:
    """An aiosmtpd handler that keeps every mail it receives."""

    def __init__(self) -> None:
        self.mails: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SMTPServer:
    """A real SMTP server on a free local port, that the test can stop and start again."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp() -> Any:
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


def test_a_refused_deletion_mails_the_support_and_raises_one_alert(
    store: EventStore, smtp: SMTPServer
) -> None:
    """Mail read back (account, reason, balance); SMTP down: retried, parked, retried once."""
    inbox = smtp.inbox
    mailer = SMTPMailer("127.0.0.1", smtp.port, timeout=2)
    support = make_support(mailer, max_attempts=2, base_delay=0.01)
    app = Application(
        name="bank",
        deciders=[deletion.make_decider(), make_alerts()],
        upcasters=deletion.make_upcasters(),
        reactions=[support],
    )
    accounts = app.handler("account-deletion", store)
    accounts.handle("account-ada", bank.OpenAccount(owner="Ada"))
    accounts.handle("account-ada", bank.Deposit(amount_cents=1234))
    refused = accounts.handle("account-ada", deletion.DeleteAccount(reason="moving abroad"))
    runner = ReactionRunner(store, support, app=app)

    runner.run()

    (mail,) = inbox.mails
    assert mail["Subject"] == "Account deletion refused: account-ada"
    body = mail.get_payload()
    assert "Account: account-ada" in body
    assert f"Reason: {deletion.BALANCE_NOT_ZERO}" in body
    assert "Balance: 12.34" in body
    (alert,) = store.read_stream(ALERTS_STREAM)
    assert alert.causation_id == refused.events[0].event_id
    assert alert.correlation_id == refused.events[0].correlation_id

    # The SMTP server stops: the next refusal's mail is retried, then parked.
    smtp.stop()
    accounts.handle("account-bob", bank.OpenAccount(owner="Bob"))
    accounts.handle("account-bob", bank.Deposit(amount_cents=99))
    accounts.handle("account-bob", deletion.DeleteAccount())
    runner.run()
    time.sleep(0.05)
    runner.run()
    with store.transaction() as tx:  # type: ignore[attr-defined]
        (entry,) = parking.entries(tx, "reaction:support")
    assert (entry.stream_id, entry.state, entry.attempts) == ("account-bob", "parked", 2)
    assert "ConnectionRefusedError" in (entry.error or "")
    assert len(inbox.mails) == 1

    # The server is back; `reactions retry` (here, its function) delivers the mail once.
    smtp.start()
    with store.transaction() as tx:  # type: ignore[attr-defined]
        assert parking.request_retry(tx, None) == 1
    runner.run()
    runner.run()
    assert [m["Subject"] for m in inbox.mails] == [
        "Account deletion refused: account-ada",
        "Account deletion refused: account-bob",
    ]
    assert "Balance: 0.99" in inbox.mails[1].get_payload()
    assert [a.version for a in store.read_stream(ALERTS_STREAM)] == [1, 2], "one alert each"
    with store.transaction() as tx:  # type: ignore[attr-defined]
        assert parking.entries(tx, "reaction:support") == []
