"""NPS_BOT_LIVEAGENT_*: the rule's shared token in, an API key (and the agent to post as) out."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import BaseSettings

from nps_bot.plugin.reply import ReplyBackSettings
from nps_bot.plugin.settings import CsvList, base_config


class LiveAgentSettings(ReplyBackSettings, BaseSettings):
    model_config = base_config("NPS_BOT_LIVEAGENT_")

    # Comma-separated to allow rotation: put the new token in the rule while the old one still works.
    secret: CsvList = Field(default_factory=list)
    url: str | None = None  # https://<account>.ladesk.com
    api_key: str | None = None
    # Agent id or e-mail the survey message is posted as (LiveAgent `useridentifier`).
    useridentifier: str | None = None
    # Unset = on whenever URL, API key and user identifier are set; false turns reply-back off.
    reply: bool | None = None
    # Put the ticket back to Resolved/Closed after posting (an agent message marks it "answered").
    keep_resolved: bool = True

    credentials: ClassVar[tuple[str, ...]] = ("url", "api_key", "useridentifier")

    @property
    def base_url(self) -> str | None:
        return self.url.rstrip("/") if self.url else None
