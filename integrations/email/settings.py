"""NPS_BOT_SMTP_* and NPS_BOT_EMAIL_*: where survey e-mails go out and whom they come from.

The server is one URL (`NPS_BOT_SMTP_URL`) or separate variables; the URL wins when both are set.

    smtp://user:pass@smtp.example.com:587          STARTTLS (the default for smtp://), port 587
    smtp://relay.internal:25?starttls=false        a trusted relay without TLS
    smtps://user:pass@smtp.example.com             implicit TLS, port 465

User and password are percent-decoded (`p%40ss` is `p@ss`). Anything that asks for TLS gets TLS or
no e-mail at all: a server that does not offer STARTTLS is an error, never a fallback to plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.utils import parseaddr
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from nps_bot.plugin.settings import base_config

Security = Literal["ssl", "starttls", "none"]
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class EmailSettings(BaseSettings):
    model_config = base_config("NPS_BOT_")

    smtp_url: SecretStr = SecretStr("")
    smtp_host: str = ""
    smtp_port: int | None = Field(None, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    smtp_timeout: float = Field(30.0, gt=0)  # seconds, for the connection and each command
    email_from: str = ""  # "Acme Support <support@acme.example>" or a bare address
    email_reply_to: str = ""
    # Optional mailto for List-Unsubscribe, beside the https link; someone must act on what arrives.
    email_unsubscribe_mailto: str = ""

    @property
    def configured(self) -> bool:
        """Did the admin ask for e-mail at all? (Nothing set: the channel is simply not offered.)"""
        return bool(self.smtp_url.get_secret_value() or self.smtp_host)


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    security: Security
    user: str = ""
    password: str = ""
    timeout: float = 30.0

    def __repr__(self) -> str:  # never the password
        return f"SmtpServer({self.host}:{self.port}, {self.security}, user={'set' if self.user else 'none'})"


def _flag(value: str, name: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError(f"NPS_BOT_SMTP_URL: {name}={value!r} is not true or false")


def smtp_server(settings: EmailSettings) -> SmtpServer:
    """The server to use, from the URL or the separate settings; ValueError says what is wrong."""
    url = settings.smtp_url.get_secret_value().strip()
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("NPS_BOT_SMTP_URL must start with smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError("NPS_BOT_SMTP_URL has no host")
        query = {k.lower(): v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.scheme == "smtps":
            security: Security = "ssl"
        else:
            security = "starttls" if _flag(query.get("starttls", "true"), "starttls") else "none"
        timeout = float(query["timeout"]) if "timeout" in query else settings.smtp_timeout
        try:
            port = parts.port
        except ValueError:
            raise ValueError("NPS_BOT_SMTP_URL has an invalid port") from None
        return SmtpServer(
            host=parts.hostname,
            port=port or (465 if security == "ssl" else 587),
            security=security,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            timeout=timeout,
        )
    if not settings.smtp_host:
        raise ValueError("set NPS_BOT_SMTP_URL or NPS_BOT_SMTP_HOST")
    security = "ssl" if settings.smtp_ssl else "starttls" if settings.smtp_starttls else "none"
    return SmtpServer(
        host=settings.smtp_host.strip(),
        port=settings.smtp_port or (465 if security == "ssl" else 587),
        security=security,
        user=settings.smtp_user,
        password=settings.smtp_password.get_secret_value(),
        timeout=settings.smtp_timeout,
    )


def mailbox(value: str, name: str) -> Address:
    """A From / Reply-To value ("Name <addr>" or "addr") as a header Address; ValueError if it is not one."""
    display, addr = parseaddr(value.strip())
    if not addr or "@" not in addr or any(c in value for c in "\r\n"):
        raise ValueError(f"{name} is not an e-mail address")
    try:
        return Address(display_name=display, addr_spec=addr)
    except (ValueError, IndexError, HeaderParseError):  # the header parser's verdict on the address
        raise ValueError(f"{name} is not an e-mail address") from None
