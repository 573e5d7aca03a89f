from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import BaseSettings

from nps_bot.plugin.names import DEFAULT_TTL
from nps_bot.plugin.reply import ReplyBackSettings
from nps_bot.plugin.settings import CsvList, base_config, host_name


class ZendeskSettings(ReplyBackSettings, BaseSettings):
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
    # Event webhooks carry ids only: agent and group names are looked up through the API (with the
    # credentials above) when the survey is delivered, and kept this many seconds.
    names_ttl: float = DEFAULT_TTL
    # The customer attributes kept as survey segments ("plan,region"; "*", the default, keeps every one the
    # trigger body's "attributes" (and organization, brand; the event form: organization_id,
    # brand_id, form_id) carries).
    attributes: CsvList = Field(default_factory=lambda: ["*"])

    credentials: ClassVar[tuple[str, ...]] = ("subdomain", "email", "api_token")

    @property
    def host(self) -> str | None:
        return host_name(self.subdomain, "zendesk.com")
