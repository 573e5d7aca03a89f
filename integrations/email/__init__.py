"""E-mail survey delivery over SMTP: the `email` channel for `NPS_BOT_DELIVERY` (e.g. `slack,email`,
so customers Slack cannot reach get an e-mail).

Each e-mail carries one-click links to the hosted page for every score of the survey's scale and a
signed unsubscribe link (`NPS_BOT_SECRET_KEY`); the core serves the pages and keeps the unsubscribe
list. Set-up and settings: README.md, "E-mail surveys".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from integrations.email.channel import EmailChannel
from integrations.email.settings import EmailSettings, SmtpServer, mailbox, smtp_server
from nps_bot.plugin.ports import DeliveryChannel, Host
from nps_bot.surveys.unsubscribe import unsubscribe_url

__all__ = ["EmailChannel", "EmailIntegration", "EmailSettings", "SmtpServer", "create"]

log = logging.getLogger(__name__)


class EmailIntegration:
    name = "email"

    def __init__(self, host: Host, settings: EmailSettings) -> None:
        self.host = host
        self.settings = settings
        self.channel: EmailChannel | None = None
        if not settings.configured:
            return  # not asked for: no channel, no noise
        try:
            self.channel = self._channel()
        except ValueError as exc:
            # Listed in NPS_BOT_DELIVERY but unusable: the app warns the channel is missing.
            log.error("e-mail delivery is off: %s", exc)

    def _channel(self) -> EmailChannel:
        s = self.settings
        server = smtp_server(s)
        if not s.email_from:
            raise ValueError("set NPS_BOT_EMAIL_FROM (the sender address)")
        sender = mailbox(s.email_from, "NPS_BOT_EMAIL_FROM")
        reply_to = mailbox(s.email_reply_to, "NPS_BOT_EMAIL_REPLY_TO") if s.email_reply_to else None
        mailto = None
        if s.email_unsubscribe_mailto:
            mailto = mailbox(s.email_unsubscribe_mailto, "NPS_BOT_EMAIL_UNSUBSCRIBE_MAILTO").addr_spec
        if not self.host.settings.secret_key.get_secret_value():
            raise ValueError("set NPS_BOT_SECRET_KEY: every survey e-mail needs a signed unsubscribe link")
        log.info("e-mail delivery via %s:%d (%s) from %s", server.host, server.port, server.security, sender.domain)
        return EmailChannel(
            server,
            sender=sender,
            reply_to=reply_to,
            unsubscribe_url=self._unsubscribe_url,
            unsubscribe_mailto=mailto,
            clock=self.host.clock,
        )

    def _unsubscribe_url(self, address: str, language: str) -> str:
        # Read at send time: the public URL may be settled after start-up (it follows the listener).
        settings = self.host.settings
        return unsubscribe_url(settings.public_url, settings.secret_key.get_secret_value(), address, language)

    def delivery_channels(self) -> Sequence[DeliveryChannel]:
        return [self.channel] if self.channel else []


def create(host: Host) -> EmailIntegration:
    return EmailIntegration(host, EmailSettings())
