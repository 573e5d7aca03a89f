"""Our own webhook signature, Stripe-style, used for inbound generic webhooks and outbound events.

Header: `X-NPS-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>`.
Several v1 entries may be present (secret rotation); any match is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable

from nps_bot.plugin.auth import HmacScheme, SignatureError, check_fresh

__all__ = ["HEADER", "SCHEME", "SignatureError", "compute", "sign", "verify"]

HEADER = "X-NPS-Signature"
SCHEME = HmacScheme(HEADER)


def compute(secret: str, timestamp: int, body: bytes) -> str:
    return SCHEME.sign(secret, f"{timestamp}.".encode() + body)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    return f"t={timestamp},v1={compute(secret, timestamp, body)}"


def verify(secrets: Iterable[str], header: str | None, body: bytes, now: float, tolerance: float) -> None:
    """Raise SignatureError (with a reason safe to return to the caller) unless the header is valid."""
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            # Digits only: int() would also take "+5", "1_000", " 5" and other scripts' digits.
            if not (value.isascii() and value.isdigit()) or len(value) > 20:
                raise SignatureError("signature timestamp is not an integer")
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("signature header must look like t=<unix seconds>,v1=<hex>")
    check_fresh(timestamp, now, tolerance)
    if not SCHEME.matches(secrets, candidates, f"{timestamp}.".encode() + body):
        raise SignatureError("signature does not match")
