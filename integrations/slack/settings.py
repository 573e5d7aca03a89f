from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings

from nps_bot.config import CsvList, base_config


class SlackSettings(BaseSettings):
    """Slack's usual variable names, plus NPS_BOT_SLACK_* for our own knobs."""

    model_config = base_config("NPS_BOT_SLACK_")

    bot_token: str | None = Field(None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "NPS_BOT_SLACK_BOT_TOKEN"))
    signing_secret: str | None = Field(
        None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "NPS_BOT_SLACK_SIGNING_SECRET")
    )
    app_token: str | None = Field(None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "NPS_BOT_SLACK_APP_TOKEN"))
    # Base URL of the Web API: tests and Enterprise Grid proxies point it elsewhere.
    api_url: str = Field("https://slack.com/api/", validation_alias=AliasChoices("NPS_BOT_SLACK_API_URL"))
    # Longest Retry-After we wait for inside a call; longer ones reschedule the work instead.
    max_inline_wait: float = 5.0
    timeout: float = 10.0
    admins: CsvList = Field(default_factory=list)
