"""Unsubscribing from surveys: signed links that need no login, and the suppression list they fill.

A link is `/unsubscribe/<address in base64url>.<HMAC-SHA256 of the address>` signed with the
server's `NPS_BOT_SECRET_KEY`: anyone holding the link may unsubscribe that one address, nobody can
make a link for another. The address is encoded, not encrypted (it is the recipient's own, in their
own mailbox); request logs mask the whole path (nps_bot.logs). The link itself changes nothing on a
GET (mail scanners open every link); a POST, or the RFC 8058 one-click POST, records it.

Once an address is on the list, every survey for it is suppressed with the reason "unsubscribed",
whatever the channel: at scheduling (SurveyService.schedule) and again just before delivery.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import Connection

from nps_bot.store.schema import unsubscribes
from nps_bot.store.sql import insert_ignore

if TYPE_CHECKING:  # service.py imports this module (the check at scheduling)
    from nps_bot.surveys.service import SurveyService

__all__ = ["REASON", "is_unsubscribed", "listed", "normalise", "sign", "unsubscribe", "unsubscribe_url", "verify"]

REASON = "unsubscribed"
PATH = "/unsubscribe/"
_CONTEXT = b"nps-bot/unsubscribe/v1\x00"  # domain separation: this key may sign other things one day


def normalise(address: str) -> str:
    return address.strip().lower()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, address: str) -> bytes:
    return hmac.new(secret.encode(), _CONTEXT + address.encode(), hashlib.sha256).digest()


def sign(secret: str, address: str) -> str:
    """The unsubscribe token for `address` (normalised first)."""
    if not secret:
        raise ValueError("NPS_BOT_SECRET_KEY is not set: unsubscribe links cannot be signed")
    address = normalise(address)
    return f"{_b64(address.encode())}.{_b64(_mac(secret, address))}"


def verify(secrets: Sequence[str], token: str) -> str | None:
    """The address a token was signed for, with any of `secrets` (the current key, then earlier ones
    still accepted), or None for anything forged, damaged or unsigned."""
    keys = [k for k in secrets if k]
    if not keys or token.count(".") != 1 or len(token) > 1024:
        return None
    encoded, signature = token.split(".")
    try:
        address = _unb64(encoded).decode("utf-8")
        given = _unb64(signature)
    except (binascii.Error, ValueError):
        return None
    if "@" not in address or address != normalise(address):
        return None
    return address if any(hmac.compare_digest(given, _mac(key, address)) for key in keys) else None


def unsubscribe_url(public_url: str, secret: str, address: str, language: str | None = None) -> str:
    """The link for e-mails (List-Unsubscribe and the footer); `language` words the page."""
    url = f"{public_url.rstrip('/')}{PATH}{sign(secret, address)}"
    return f"{url}?lang={quote(language)}" if language else url


def unsubscribe(service: SurveyService, address: str, *, source: str) -> bool:
    """Put an address on the list; True if it was not on it yet. Idempotent (a unique key)."""
    with service.engine.begin() as conn:
        return insert_ignore(
            conn,
            unsubscribes,
            {"email": normalise(address), "source": source[:32], "created_at": service.clock.now()},
            ("email",),
        )


def listed(conn: Connection, address: str) -> bool:
    """Inside a transaction the caller holds (SurveyService.schedule)."""
    query = sa.select(unsubscribes.c.id).where(unsubscribes.c.email == normalise(address)).limit(1)
    return conn.execute(query).first() is not None


def is_unsubscribed(service: SurveyService, address: str | None) -> bool:
    if not address:
        return False
    with service.engine.connect() as conn:
        return listed(conn, address)
