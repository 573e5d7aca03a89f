"""Who gets a survey and when: delay, sampling, exclusions and throttling, as pure decisions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from nps_bot.models import Interaction


@dataclass(frozen=True, slots=True)
class SurveyPolicy:
    delay: timedelta
    throttle: timedelta
    expiry: timedelta
    sample_rate: float = 1.0
    exclude_tags: frozenset[str] = frozenset()
    internal_domains: frozenset[str] = frozenset()
    require_customer_reply: bool = False
    agent_credit: str = "assignee"

    def due_at(self, interaction: Interaction, now: datetime) -> datetime:
        # The delay runs from the close, so a late webhook does not push the survey further out;
        # a close time in the future (clock skew) counts as now.
        closed = interaction.closed_at or now
        return min(closed, now) + self.delay

    def exclusion(self, interaction: Interaction) -> str | None:
        hit = sorted(self.exclude_tags.intersection(interaction.tags))
        if hit:
            return f"excluded tag: {hit[0]}"
        email = interaction.customer.email
        if email and email.rpartition("@")[2] in self.internal_domains:
            return "internal requester"
        if self.require_customer_reply and interaction.customer_replied is False:
            return "no public customer reply"
        return None

    def sampled_out(self, interaction: Interaction) -> bool:
        """Deterministic per ticket, so a redelivered webhook gets the same decision."""
        if self.sample_rate >= 1.0:
            return False
        digest = hashlib.sha256(f"{interaction.connector}:{interaction.ticket_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 >= self.sample_rate

    def throttle_since(self, now: datetime) -> datetime:
        return now - self.throttle
