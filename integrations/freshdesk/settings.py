from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import BaseSettings

from nps_bot.plugin.reply import ReplyBackSettings
from nps_bot.plugin.settings import CsvList, base_config, host_name


class FreshdeskSettings(ReplyBackSettings, BaseSettings):
    """NPS_BOT_FRESHDESK_*: the shared webhook secret in, API key out."""

    model_config = base_config("NPS_BOT_FRESHDESK_")

    # "acme" for acme.freshdesk.com (a full host name also works).
    domain: str | None = None
    api_key: str | None = None
    # Freshdesk does not sign webhooks: the rule sends this secret in an X-NPS-Token header (or
    # ?token=). Comma-separated values allow rotation.
    secret: CsvList = Field(default_factory=list)
    # Post the survey into the ticket as a reply; defaults to on when the API key and domain are set.
    reply: bool | None = None
    # Check the ticket is still Resolved/Closed before replying, and put the status back if the reply moved it.
    keep_status: bool = True
    # The statuses that mean "done": 4 Resolved, 5 Closed, plus your own (Admin > Workflows > Ticket Fields >
    # Status; custom statuses get ids 6 and up, see README.md). A rule body without "event" counts as a close
    # when {{ticket.status}} renders one of these (as the id, or as a name listed here); reply-back posts only
    # into a ticket whose API status is one of the ids.
    closed_statuses: CsvList = Field(default_factory=lambda: ["4", "5"])
    # The customer attributes kept as survey segments ("plan,region"; "*", the default, keeps every one the
    # rule body's "attributes" (and company, ticket_type) carries).
    attributes: CsvList = Field(default_factory=lambda: ["*"])

    credentials: ClassVar[tuple[str, ...]] = ("domain", "api_key")

    @property
    def closed_codes(self) -> frozenset[int]:
        return frozenset(int(v) for v in self.closed_statuses if v.strip().isdigit())

    @property
    def host(self) -> str | None:
        return host_name(self.domain, "freshdesk.com")
