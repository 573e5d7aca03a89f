from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from nps_bot.config import CsvList, base_config


class ZendeskSettings(BaseSettings):
    """NPS_BOT_ZENDESK_*: webhook signing secrets in, API credentials out."""

    model_config = base_config("NPS_BOT_ZENDESK_")

    # "acme" for acme.zendesk.com (a full host name such as "support.acme.com" also works).
    subdomain: str | None = None
    # Agent e-mail + API token: Basic auth "{email}/token:{api_token}".
    email: str | None = None
    api_token: str | None = None
    # Each Zendesk webhook has its own signing secret; list several (comma-separated) when both the
    # trigger webhook and the event-subscription webhook point here, or while rotating one.
    signing_secret: CsvList = Field(default_factory=list)
    # Post the survey into the ticket as a public comment; defaults to on when API credentials are set.
    reply: bool | None = None

    @property
    def host(self) -> str | None:
        if not self.subdomain:
            return None
        value = self.subdomain.strip().removeprefix("https://").removeprefix("http://").strip("/")
        return value if "." in value else f"{value}.zendesk.com"

    @property
    def has_credentials(self) -> bool:
        return bool(self.host and self.email and self.api_token)

    @property
    def reply_enabled(self) -> bool:
        return self.has_credentials if self.reply is None else self.reply
