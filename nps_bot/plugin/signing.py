"""Our own webhook signature, Stripe-style, used for inbound generic webhooks and outbound events.

Header: `X-NPS-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>`.
Several v1 entries may be present (secret rotation); any match is accepted.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

HEADER = "X-NPS-Signature"


class SignatureError(ValueError):
    pass


def compute(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


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
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("signature timestamp is not an integer") from None
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError("signature header must look like t=<unix seconds>,v1=<hex>")
    if abs(now - timestamp) > tolerance:
        raise SignatureError("signature timestamp outside the allowed window (replayed or clock skew)")
    for secret in secrets:
        expected = compute(secret, timestamp, body)
        if any(hmac.compare_digest(expected, c) for c in candidates):
            return
    raise SignatureError("signature does not match")
