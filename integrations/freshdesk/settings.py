from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from nps_bot.config import CsvList, base_config


class FreshdeskSettings(BaseSettings):
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

    @property
    def host(self) -> str | None:
        if not self.domain:
            return None
        value = self.domain.strip().removeprefix("https://").removeprefix("http://").strip("/")
        return value if "." in value else f"{value}.freshdesk.com"

    @property
    def has_credentials(self) -> bool:
        return bool(self.host and self.api_key)

    @property
    def reply_enabled(self) -> bool:
        return self.has_credentials if self.reply is None else self.reply
