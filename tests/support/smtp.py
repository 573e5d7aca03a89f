"""A real SMTP server for the e-mail tests (aiosmtpd on loopback) and what it received."""

from __future__ import annotations

import email
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.processes import free_port

PASSWORD = b"p@ss:w/rd"  # the one password `authenticate` accepts


@dataclass
class Mailbox:
    """What the SMTP server received; `refuse` maps a recipient prefix to the RCPT reply."""

    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        for prefix, reply in self.refuse.items():
            if address.startswith(prefix):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 Message accepted"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=data.password == PASSWORD, handled=False)

    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(raw, policy=default_policy) for _, _, raw in self.received]  # type: ignore[misc]


@contextmanager
def smtp_server(*, auth: bool = False) -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    login = {"authenticator": box.authenticate, "auth_required": True, "auth_require_tls": False} if auth else {}
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), **login)
    controller.start()
    try:
        yield box, controller.port
    finally:
        controller.stop()
