from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings

from nps_bot.config import CsvList, Duration, base_config


class SlackSettings(BaseSettings):
    """Slack's usual variable names, plus NPS_BOT_SLACK_* for our own knobs."""

    model_config = base_config("NPS_BOT_SLACK_")

    bot_token: str | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_BOT_TOKEN", "NPS_BOT_SLACK_BOT_TOKEN"),
        description="`xoxb-…`; without it Slack is off and the console channel logs surveys",
    )
    signing_secret: str | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "NPS_BOT_SLACK_SIGNING_SECRET"),
        description="verifies requests to `/slack/events`",
    )
    app_token: str | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_APP_TOKEN", "NPS_BOT_SLACK_APP_TOKEN"),
        description="`xapp-…`: use Socket Mode (no public URL needed)",
    )
    # Base URL of the Web API: tests and Enterprise Grid proxies point it elsewhere.
    api_url: str = Field(
        "https://slack.com/api/",
        validation_alias=AliasChoices("NPS_BOT_SLACK_API_URL"),
        description="Web API base URL (tests, proxies)",
    )
    # Longest Retry-After we wait for inside a call; longer ones reschedule the work instead.
    max_inline_wait: float = Field(
        5.0, description="longest `Retry-After` (seconds) waited out inside a call; longer ones reschedule"
    )
    timeout: float = Field(10.0, description="seconds per Web API call")
    user_id_ttl: Duration = Field(
        timedelta(days=7), description="how long a Slack user id found by e-mail is reused before it is looked up again"
    )
    user_missing_ttl: Duration = Field(
        timedelta(days=1), description='how long "no Slack user has this e-mail" is remembered before asking again'
    )
    rates: dict[str, float] = Field(
        default_factory=dict,
        description='calls per minute for Web API methods, over Slack\'s tiers (JSON: `{"chat.postMessage": 120}`)',
    )
    channel_posts_per_minute: float = Field(
        60.0, description="messages per minute to one channel or DM (Slack allows about one a second)"
    )
    admins: CsvList = Field(
        default_factory=list, description="more Slack user ids with admin rights, as `NPS_BOT_ADMINS`"
    )
    home_people: Literal["admins", "everyone"] = Field(
        "admins",
        description="who sees customer names and open follow-ups in App Home (`admins` or `everyone`); "
        "everyone else sees the scores",
    )

    @field_validator("rates")
    @classmethod
    def _positive_rates(cls, value: dict[str, float]) -> dict[str, float]:
        if any(rate <= 0 for rate in value.values()):
            raise ValueError("every rate must be a positive number of calls per minute")
        return value

    @field_validator("channel_posts_per_minute")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be positive")
        return value
