"""Proving that a webhook comes from the help desk: a shared token or an HMAC signature.

Help desks that cannot sign their webhooks (rules that only let the admin add a header or a query
parameter) send one of our secrets back: `SharedToken`. Help desks that sign use an HMAC over the raw
body with their own digest and encoding: `HmacScheme`. Both accept several secrets, so an admin can
rotate one without a window where webhooks are refused, and both compare in constant time.
"""

from __future__ import annotations

import base64
import hmac
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from nps_bot.plugin.ports import Unauthorized, WebhookRequest

log = logging.getLogger(__name__)

TOKEN_QUERY = "token"
TOKEN_HEADER = "X-NPS-Token"
# The name LiveAgent and Nicereply documented first; accepted for one more release, with a warning.
LEGACY_TOKEN_HEADER = "X-NPS-Bot-Token"

Encoding = Callable[[bytes], str]
SettingsT = TypeVar("SettingsT")


class SignatureError(Unauthorized, ValueError):
    """The request does not prove its sender: connectors let it through as the 401 answer, with this reason."""


def check_fresh(sent_at: float, now: float, tolerance: float, what: str = "signature timestamp") -> None:
    """A signed timestamp further than `tolerance` seconds from now is a replay (or clock skew)."""
    try:
        fresh = abs(now - float(sent_at)) <= tolerance  # False for NaN and infinities
    except OverflowError:  # an integer too large for a float: a sender's "t=" of 400 digits
        fresh = False
    if not fresh:
        raise SignatureError(f"{what} outside the allowed window (replayed or clock skew)")


class TimestampSigned(Generic[SettingsT]):
    """Base of connectors whose sender signs a timestamp with the body: it keeps the settings and the
    replay window (NPS_BOT_WEBHOOK_TOLERANCE), the same for every such connector."""

    def __init__(self, settings: SettingsT, tolerance: float = 300.0) -> None:
        self.settings = settings
        self.tolerance = tolerance

    def check_fresh(self, sent_at: float, request: WebhookRequest, what: str = "signature timestamp") -> None:
        check_fresh(sent_at, request.received_at.timestamp(), self.tolerance, what)


def hex_digest(digest: bytes) -> str:
    return digest.hex()


def base64_digest(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def base64url_digest(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode()


def same(offered: str, expected: str) -> bool:
    """Constant-time string comparison (timing must not reveal how much of a secret was guessed)."""
    return hmac.compare_digest(offered.encode(), expected.encode())


def require_secrets(secrets: Sequence[str], setting: str, *, signed: bool = False) -> None:
    """Refuse everything while the secret is not configured: an open endpoint would take forged events."""
    if not secrets:
        kind = "unsigned" if signed else "unauthenticated"
        raise Unauthorized(f"{setting} is not set on the server; refusing {kind} webhooks")


class SharedToken:
    """The shared-secret check for help desks that cannot sign: `?token=<secret>` or `X-NPS-Token: <secret>`.

    One instance per connector: it remembers whether it already warned about the deprecated
    `X-NPS-Bot-Token` header, so the log says it once rather than on every webhook.
    """

    def __init__(self, connector: str, setting: str) -> None:
        self.connector = connector
        self.setting = setting
        self._warned = False

    def offered(self, request: WebhookRequest, extra: Iterable[str] = ()) -> list[tuple[str, str]]:
        """(where, value) for every non-empty token the request carries; `extra` adds vendor-specific places."""
        places = [
            ("token", request.query.get(TOKEN_QUERY)),
            (TOKEN_HEADER, request.headers.get(TOKEN_HEADER.lower())),
            (LEGACY_TOKEN_HEADER, request.headers.get(LEGACY_TOKEN_HEADER.lower())),
            *(("token", value) for value in extra),
        ]
        return [(where, value.strip()) for where, value in places if value and value.strip()]

    def check(self, request: WebhookRequest, secrets: Sequence[str], extra: Iterable[str] = ()) -> None:
        """Return when any offered token equals any secret; raise Unauthorized with a reason otherwise."""
        require_secrets(secrets, self.setting)
        offered = self.offered(request, extra)
        if not offered:
            raise Unauthorized(f"missing token: add ?{TOKEN_QUERY}=<secret> to the URL or an {TOKEN_HEADER} header")
        for where, value in offered:
            if any(same(value, secret) for secret in secrets):
                if where == LEGACY_TOKEN_HEADER:
                    self._deprecated()
                return
        # Name the header when one was sent, so an admin knows which setting to look at.
        headers = [where for where, _ in offered if where != "token"]
        raise Unauthorized(f"{headers[0] if headers else 'token'} does not match")

    def _deprecated(self) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "%s: the %s header is deprecated and stops working in the next release; send %s (or ?%s=) instead",
                self.connector,
                LEGACY_TOKEN_HEADER,
                TOKEN_HEADER,
                TOKEN_QUERY,
            )


@dataclass(frozen=True, slots=True)
class HmacScheme:
    """A vendor's webhook signature: `prefix + encoding(HMAC-<digest>(secret, message))` in `header`.

    Vendors differ only in the digest, the text encoding, a prefix such as "sha1=" and what the
    message is (the raw body, or a timestamp joined to it); the secret loop is the same for all.
    """

    header: str
    digest: str = "sha256"  # a hashlib name: "sha1", "sha256"...
    encodings: tuple[Encoding, ...] = (hex_digest,)
    prefix: str = ""

    def sign(self, secret: str, message: bytes) -> str:
        """The signature in the first encoding (what the vendor sends; also for tests and our own requests)."""
        return self.prefix + self.encodings[0](hmac.new(secret.encode(), message, self.digest).digest())

    def expected(self, secrets: Iterable[str], *messages: bytes) -> list[str]:
        """Every signature that would verify: each message, with each secret, in each encoding."""
        macs = (hmac.new(secret.encode(), message, self.digest).digest() for secret in secrets for message in messages)
        return [self.prefix + encode(mac) for mac in macs for encode in self.encodings]

    def matches(self, secrets: Iterable[str], offered: str | Iterable[str], *messages: bytes) -> bool:
        """True when `offered` (one signature, or several a header lists) is the signature of any message,
        with any secret, in any encoding. Each HMAC is computed once, however many signatures are offered."""
        expected = self.expected(secrets, *messages)
        candidates = [offered] if isinstance(offered, str) else list(offered)
        return any(same(candidate, signature) for candidate in candidates for signature in expected)

    def verify(self, request: WebhookRequest, secrets: Sequence[str], *, setting: str, lower: bool = False) -> None:
        """The whole check for signatures over the raw body alone; `lower` for vendors that send hex in any case."""
        require_secrets(secrets, setting, signed=True)
        offered = (request.headers.get(self.header.lower()) or "").strip()
        if not offered:
            raise Unauthorized(f"missing {self.header} header")
        if not self.matches(secrets, offered.lower() if lower else offered, request.body):
            raise Unauthorized(f"{self.header} does not match")
