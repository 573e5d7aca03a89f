from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import BaseSettings

from nps_bot.plugin.reply import ReplyBackSettings
from nps_bot.plugin.settings import CsvList, base_config, id_names


class IntercomSettings(ReplyBackSettings, BaseSettings):
    """NPS_BOT_INTERCOM_*: the app's client secret (webhook signatures) in, an access token out."""

    model_config = base_config("NPS_BOT_INTERCOM_")

    # Developer Hub > your app > Basic information > Client secret: the key of X-Hub-Signature.
    # Comma-separated when several apps (or an old and a new secret) send to this endpoint.
    client_secret: CsvList = Field(default_factory=list)
    # Developer Hub > your app > Authentication > Access token.
    access_token: str | None = None
    # The teammate the survey reply (and the re-close) is attributed to: GET /me or /admins gives ids.
    admin_id: str | None = None
    # Post the survey into the conversation; defaults to on when the access token and admin id are set.
    reply: bool | None = None
    # Read the conversation before replying (post only while it is closed) and close it again if the
    # reply re-opened it.
    keep_closed: bool = True
    # "https://api.eu.intercom.io" or "https://api.au.intercom.io" for workspaces hosted there.
    api_base: str = "https://api.intercom.io"
    api_version: str = "2.11"
    # Team names for team ids ("5017691=Billing"); the webhook carries only team_assignee_id.
    teams: CsvList = Field(default_factory=list)
    # The conversation data attribute that holds the customer's language ("lt", "Lithuanian"), if any.
    language_attribute: str = "Language"
    # The conversation attributes kept as survey segments ("Plan,Region"; "*" keeps all). API 2.x items
    # also carry Intercom's own ("Has attachments", "Copilot used"...), so by default only the contact's
    # external_id is kept.
    attributes: CsvList = Field(default_factory=lambda: ["external_id"])

    credentials: ClassVar[tuple[str, ...]] = ("access_token", "admin_id")

    @property
    def team_names(self) -> dict[str, str]:
        return id_names(self.teams)
