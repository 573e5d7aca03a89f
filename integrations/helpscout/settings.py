from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from nps_bot.config import CsvList, base_config


def id_names(values: list[str]) -> dict[str, str]:
    """ "85=Billing,86=Sales" -> {"85": "Billing", "86": "Sales"} (entries without "=" are skipped)."""
    pairs = (v.partition("=") for v in values)
    return {k.strip(): name.strip() for k, sep, name in pairs if sep and k.strip() and name.strip()}


class HelpScoutSettings(BaseSettings):
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
    api_base: str = "https://api.helpscout.net"

    @property
    def has_credentials(self) -> bool:
        return bool(self.app_id and self.app_secret)

    @property
    def reply_enabled(self) -> bool:
        return self.has_credentials if self.reply is None else self.reply

    @property
    def mailbox_names(self) -> dict[str, str]:
        return id_names(self.mailboxes)
