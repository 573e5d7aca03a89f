from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import BaseSettings

from nps_bot.plugin.names import DEFAULT_TTL
from nps_bot.plugin.reply import ReplyBackSettings
from nps_bot.plugin.settings import CsvList, base_config, id_names


class HelpScoutSettings(ReplyBackSettings, BaseSettings):
    """NPS_BOT_HELPSCOUT_*: the webhook secret in, an OAuth app (client credentials) out."""

    model_config = base_config("NPS_BOT_HELPSCOUT_")

    # The webhook's secret key (Help Scout: "40 characters or less"). Comma-separated for rotation.
    secret: CsvList = Field(default_factory=list)
    # OAuth2 application (Your Profile > My Apps): App ID and App Secret, used with the client credentials flow.
    app_id: str | None = None
    app_secret: str | None = None
    # Post the survey into the conversation as a reply; defaults to on when the app credentials are set.
    reply: bool | None = None
    # Team names for mailboxes ("85=Billing,86=Sales"); the webhook carries only the mailbox id.
    mailboxes: CsvList = Field(default_factory=list)
    # The conversation custom field that holds the customer's language ("lt", "Lithuanian"), if any.
    language_field: str = "Language"
    # The customer attributes kept as survey segments ("plan,region"; "*", the default, keeps every one the
    # conversation's custom fields carries).
    attributes: CsvList = Field(default_factory=lambda: ["*"])
    api_base: str = "https://api.helpscout.net"
    # Dropdown custom fields that arrive as option ids are named through the API (the app credentials
    # above) when the survey is delivered; the labels are kept this many seconds.
    names_ttl: float = DEFAULT_TTL

    credentials: ClassVar[tuple[str, ...]] = ("app_id", "app_secret")

    @property
    def mailbox_names(self) -> dict[str, str]:
        return id_names(self.mailboxes)
