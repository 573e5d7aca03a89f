from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import BaseSettings

from nps_bot.plugin.reply import ReplyBackSettings
from nps_bot.plugin.settings import CsvList, base_config


class ChatwootSettings(ReplyBackSettings, BaseSettings):
    """NPS_BOT_CHATWOOT_*: webhook secret (signed installs) or shared token (older installs) in, API token out."""

    model_config = base_config("NPS_BOT_CHATWOOT_")

    # Where Chatwoot runs: "https://app.chatwoot.com" or your self-hosted URL.
    base_url: str | None = None
    # An agent's (or agent bot's) access token from Profile settings; sent as the api_access_token header.
    api_token: str | None = None
    # The webhook's secret (Chatwoot versions that sign: X-Chatwoot-Signature). Comma-separated for rotation.
    secret: CsvList = Field(default_factory=list)
    # Installs that do not sign: a shared token in the webhook URL (?token=...) or an X-NPS-Token header.
    token: CsvList = Field(default_factory=list)
    # Used for reply-back when a payload carries no account id (the webhook docs' sample has none).
    account_id: str | None = None
    # Post the survey into the conversation; defaults to on when base URL and API token are set.
    reply: bool | None = None
    # The customer attributes kept as survey segments ("plan,region"; "*", the default, keeps every one the
    # contact's and conversation's custom attributes and inbox_id carries).
    attributes: CsvList = Field(default_factory=lambda: ["*"])

    credentials: ClassVar[tuple[str, ...]] = ("base_url", "api_token")

    @property
    def base(self) -> str | None:
        if not self.base_url:
            return None
        value = self.base_url.strip().rstrip("/")
        return value if value.startswith(("https://", "http://")) else f"https://{value}"
