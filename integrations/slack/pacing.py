"""Slack's rate limits per Web API method (docs.slack.dev/apis/web-api/rate-limits), kept by every worker
together through the host's shared API limits.

Tiers are "per API method per app per workspace": Tier 2 20+/min, Tier 3 50+/min, Tier 4 100+/min,
with some bursting. chat.postMessage is special: about one message per second per channel (short
bursts allowed) under a workspace-wide limit Slack does not publish. A method not listed is not
paced, but a pause after its 429 is still honoured.
"""

from __future__ import annotations

from nps_bot.plugin.ports import Pace

TIER_2 = Pace(20, burst=3)
TIER_3 = Pace(50, burst=5)
TIER_4 = Pace(100, burst=10)

TIERS: dict[str, Pace] = {
    "users.lookupByEmail": TIER_3,
    "users.info": TIER_4,
    "conversations.open": TIER_3,
    "conversations.info": TIER_3,
    "conversations.history": TIER_3,
    "chat.update": TIER_3,
    "chat.postEphemeral": TIER_4,
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
    # The workspace-wide budget: "several hundred a minute" is what Slack has said; we stay below.
    "chat.postMessage": Pace(300, burst=10),
}
# One channel (a DM is one too): about one message a second, short bursts allowed.
PER_CHANNEL = "chat.postMessage"


def limit_key(method: str) -> str:
    return f"slack:{method}"


def paces(overrides: dict[str, float], channel_per_minute: float) -> tuple[dict[str, Pace], Pace]:
    """The method paces with the configured per-minute overrides, and the per-channel posting pace."""
    table = dict(TIERS)
    for method, per_minute in overrides.items():
        table[method] = Pace(per_minute, burst=TIERS[method].burst if method in TIERS else 1)
    return table, Pace(channel_per_minute, burst=3)
