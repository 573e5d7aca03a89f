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

    credentials: ClassVar[tuple[str, ...]] = ("domain", "api_key")

    @property
    def host(self) -> str | None:
        return host_name(self.domain, "freshdesk.com")
