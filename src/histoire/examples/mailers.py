"""Two ways to send the support's mail: through an SMTP server, or into an outbox folder."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path


def _message(sender: str, to: str, subject: str, body: str, message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content(body)
    return message


class SMTPMailer:
    """Sends mail through an SMTP server (`host`:`port`); raises OSError when it is down."""

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        sender: str = "histoire@localhost",
        to: str = "support@localhost",
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.to = to
        self.timeout = timeout

    def send(self, *, subject: str, body: str, message_id: str) -> None:
        message = _message(self.sender, self.to, subject, body, message_id)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            smtp.send_message(message)


class OutboxMailer:
    """Writes each mail as an .eml file into `folder` (the demo: nothing to start)."""

    def __init__(self, folder: str | Path, *, to: str = "support@localhost") -> None:
        self.folder = Path(folder)
        self.to = to

    def send(self, *, subject: str, body: str, message_id: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        message = _message("histoire@localhost", self.to, subject, body, message_id)
        name = message_id.strip("<>").split("@")[0] + ".eml"
        (self.folder / name).write_bytes(bytes(message))
