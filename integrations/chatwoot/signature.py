"""Chatwoot webhook signatures (versions that sign): X-Chatwoot-Signature is "sha256=" + hex
HMAC-SHA256(the webhook's secret, "{X-Chatwoot-Timestamp}.{raw body}")."""

from __future__ import annotations

from nps_bot.plugin.auth import HmacScheme

SIGNATURE_HEADER = "x-chatwoot-signature"
TIMESTAMP_HEADER = "x-chatwoot-timestamp"
SCHEME = HmacScheme("X-Chatwoot-Signature", prefix="sha256=")


def signed_message(timestamp: str, body: bytes) -> bytes:
    return timestamp.encode() + b"." + body


def compute_signature(secret: str, timestamp: str, body: bytes) -> str:
    """ "sha256=" + hex HMAC-SHA256(secret, "{timestamp}.{raw body}")."""
    return SCHEME.sign(secret, signed_message(timestamp, body))
