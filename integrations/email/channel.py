"""The `email` delivery channel: one SMTP conversation per survey, synchronous (the worker is).

Outcomes in the worker's vocabulary:

* no address, an address no header can carry, or a permanent (5xx) refusal of the recipient or of
  the message → DeliveryUnavailable with the reason (the worker tries the next channel, else marks the
  survey undeliverable);
* connection problems, timeouts, temporary (4xx) answers, and refusals that are about our own
  set-up (sender refused, authentication, no STARTTLS) → DeliveryRetry (backoff; a fixed set-up sends
  them on).

Reasons end up in the survey row and the log: they never carry the address (server replies often
quote it, so those are masked) nor the survey token.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Callable
from email.headerregistry import Address
from email.message import EmailMessage

from integrations.email.message import build_message
from integrations.email.settings import SmtpServer
from nps_bot.clock import Clock
from nps_bot.models import Delivered, OutgoingSurvey
from nps_bot.plugin.ports import DeliveryRetry, DeliveryUnavailable

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"<?[^\s<>@]+@[^\s<>@]+>?")
_REASON_CHARS = 160


def server_reply(code: int, reply: bytes | str) -> str:
    """An SMTP reply for a reason: decoded, addresses masked, shortened."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    text = _ADDRESS.sub("<address>", " ".join(text.split()))
    return f"{code} {text}"[:_REASON_CHARS]


class EmailChannel:
    name = "email"
    can_remind = True  # a reminder is a second e-mail with the same links (nps_bot.delivery.reminders)

    def __init__(
        self,
        server: SmtpServer,
        *,
        sender: Address,
        reply_to: Address | None,
        unsubscribe_url: Callable[[str, str], str],
        unsubscribe_mailto: str | None,
        clock: Clock,
    ) -> None:
        self.server = server
        self.sender = sender
        self.reply_to = reply_to
        self.unsubscribe_url = unsubscribe_url  # (address, language) -> signed https link
        self.unsubscribe_mailto = unsubscribe_mailto
        self.clock = clock

    def message(self, survey: OutgoingSurvey) -> EmailMessage:
        if not survey.customer_email:
            raise DeliveryUnavailable("customer has no e-mail address")
        try:
            return build_message(
                survey,
                sender=self.sender,
                reply_to=self.reply_to,
                unsubscribe_url=self.unsubscribe_url(survey.customer_email, survey.language),
                unsubscribe_mailto=self.unsubscribe_mailto,
                now=self.clock.now(),
            )
        except ValueError:  # the header parser refused the address (or a name it cannot carry)
            raise DeliveryUnavailable("customer e-mail address is not valid") from None

    def deliver(self, survey: OutgoingSurvey) -> Delivered:
        msg = self.message(survey)
        try:
            self._send(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (0, b""))
            if 400 <= code < 500:
                raise DeliveryRetry(f"smtp: recipient deferred ({server_reply(code, reply)})") from None
            raise DeliveryUnavailable(f"recipient refused ({server_reply(code, reply)})") from None
        except smtplib.SMTPSenderRefused as exc:  # our From: fix the set-up, the surveys then go out
            reply = server_reply(exc.smtp_code, exc.smtp_error)
            log.error("SMTP server refused the sender NPS_BOT_EMAIL_FROM: %s", reply)
            raise DeliveryRetry(f"smtp: sender refused ({reply})") from None
        except smtplib.SMTPAuthenticationError as exc:
            log.error("SMTP authentication failed: %s", server_reply(exc.smtp_code, exc.smtp_error))
            raise DeliveryRetry(f"smtp: authentication failed ({exc.smtp_code})") from None
        except smtplib.SMTPDataError as exc:  # the message itself, after the recipient was accepted
            if 400 <= exc.smtp_code < 500:
                raise DeliveryRetry(f"smtp: message deferred ({server_reply(exc.smtp_code, exc.smtp_error)})") from None
            raise DeliveryUnavailable(f"message refused ({server_reply(exc.smtp_code, exc.smtp_error)})") from None
        except smtplib.SMTPNotSupportedError as exc:
            log.error("SMTP server: %s", exc)
            raise DeliveryRetry(f"smtp: {exc}") from None
        except smtplib.SMTPResponseException as exc:  # HELO, MAIL... answered with an error
            raise DeliveryRetry(f"smtp: {server_reply(exc.smtp_code, exc.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timeout, TLS, DNS
            raise DeliveryRetry(f"smtp unreachable: {type(exc).__name__}") from None
        return Delivered(self.name, str(msg["Message-ID"]))

    def _send(self, msg: EmailMessage) -> None:
        s = self.server
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.security == "ssl":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        with smtp:
            smtp.ehlo()
            if s.security == "starttls":
                if not smtp.has_extn("starttls"):  # never fall back to sending in the clear
                    raise smtplib.SMTPNotSupportedError("server does not offer STARTTLS (set starttls=false to allow)")
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.user:
                smtp.login(s.user, s.password)
            smtp.send_message(msg)
