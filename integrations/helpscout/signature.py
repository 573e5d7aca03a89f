"""Help Scout webhook signatures (https://developer.helpscout.com/webhooks/): X-HelpScout-Signature is
base64(HMAC-SHA1(webhook secret, raw body)). Some clients' examples use the URL-safe alphabet, so both verify."""

from __future__ import annotations

from nps_bot.plugin.auth import HmacScheme, base64_digest, base64url_digest

SCHEME = HmacScheme("X-HelpScout-Signature", digest="sha1", encodings=(base64_digest, base64url_digest))


def compute_signature(secret: str, body: bytes) -> str:
    """What Help Scout sends for this body and secret (standard base64)."""
    return SCHEME.sign(secret, body)
