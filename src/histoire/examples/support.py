"""The seed's reaction: a refused account deletion mails the support and raises an alert.

"I can react to the event 'account deletion refused' by sending a mail to the
support so that they contact the customer, or by raising an alert." The
`support` reaction does both for every `AccountDeletionRefused`: it raises an
alert (a command to the `alerts` decider: an `AlertRaised` event on the
`alerts-support` stream, caused by the refusal), then mails the support.

The alert comes first because it is stored exactly once whatever happens (its
command id derives from the refusal), while a mail cannot be taken back: a
delivery that fails before the mail is sent is simply tried again.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from histoire.app.reactions import Reaction, ReactionContext
from histoire.core.decider import Decider
from histoire.core.errors import InvalidCommandError
from histoire.core.messages import Command, Event
from histoire.examples.deletion import AccountDeletionRefused

ALERTS_STREAM = "alerts-support"


class RaiseAlert(Command):
    account: str
    reason: str
    balance_cents: int


class AlertRaised(Event):
    type_name: ClassVar[str] = "alerts.AlertRaised"
    account: str
    reason: str
    balance_cents: int


def _decide(command: RaiseAlert, raised: int) -> list[AlertRaised]:
    if not command.account:
        raise InvalidCommandError("an alert needs the account it is about")
    return [
        AlertRaised(
            account=command.account, reason=command.reason, balance_cents=command.balance_cents
        )
    ]


def make_alerts() -> Decider[RaiseAlert, int, AlertRaised]:
    """The alerts decider: every alert asked for is raised (its state counts them)."""
    return Decider(
        name="alerts",
        initial_state=lambda: 0,
        decide=_decide,
        evolve=lambda raised, event: raised + 1,
        events=[AlertRaised],
    )


class Mailer(Protocol):
    """Sends one mail; raises if it could not (the reaction then tries again later)."""

    def send(self, *, subject: str, body: str, message_id: str) -> None: ...


def mail_text(account: str, event: AccountDeletionRefused) -> tuple[str, str]:
    """The subject and body of the mail to the support."""
    euros, cents = divmod(event.balance_cents, 100)
    subject = f"Account deletion refused: {account}"
    body = (
        f"The customer of {account} asked to delete the account, and it was refused.\n\n"
        f"Account: {account}\n"
        f"Reason: {event.reason}\n"
        f"Balance: {euros}.{cents:02d}\n\n"
        "Please contact the customer.\n"
    )
    return subject, body


def make_support(mailer: Mailer, *, max_attempts: int = 5, base_delay: float = 1.0) -> Reaction:
    """The `support` reaction, mailing through `mailer`."""
    support = Reaction("support", max_attempts=max_attempts, base_delay=base_delay)

    @support.on(AccountDeletionRefused)
    def refused(event: AccountDeletionRefused, ctx: ReactionContext) -> None:
        account = ctx.record.stream_id
        ctx.issue(
            "alerts",
            ALERTS_STREAM,
            RaiseAlert(account=account, reason=event.reason, balance_cents=event.balance_cents),
        )
        subject, body = mail_text(account, event)
        # The id lets the support's mail client fold a mail sent twice into one.
        mailer.send(subject=subject, body=body, message_id=f"<{ctx.record.event_id}@histoire>")

    return support
