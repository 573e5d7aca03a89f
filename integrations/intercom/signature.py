"""Intercom webhook signatures (https://developers.intercom.com/docs/webhooks/setting-up-webhooks):
X-Hub-Signature is "sha1=" + hex HMAC-SHA1(the app's client secret, raw body)."""

from __future__ import annotations

from nps_bot.plugin.auth import HmacScheme

SCHEME = HmacScheme("X-Hub-Signature", digest="sha1", prefix="sha1=")


def compute_signature(secret: str, body: bytes) -> str:
    """ "sha1=" + hex HMAC-SHA1(app client secret, raw body): the X-Hub-Signature header."""
    return SCHEME.sign(secret, body)
