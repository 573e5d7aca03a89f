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
    # LiveAgent has separate API v1 and v3 keys (Configuration > System > API; the wrong one answers
    # "403 ApiKey not found"). The v1 key posts the survey message (POST /api/conversations/{id}/messages,
    # a v1 call: v3 has no "post a message" endpoint); the v3 key puts the ticket status back
    # (PUT /api/v3/tickets/{id}). Without api_key_v3, api_key is tried for both.
    api_key: str | None = None
    api_key_v3: str | None = None
    # Agent id or e-mail the survey message is posted as (LiveAgent `useridentifier`).
    useridentifier: str | None = None
    # Unset = on whenever URL, API key and user identifier are set; false turns reply-back off.
    reply: bool | None = None
    # Put the ticket back to Resolved/Closed after posting (an agent message marks it "answered").
    keep_resolved: bool = True
    # The customer attributes kept as survey segments ("plan,region"; "*", the default, keeps every one the
    # rule body's custom_fields carries).
    attributes: CsvList = Field(default_factory=lambda: ["*"])

    credentials: ClassVar[tuple[str, ...]] = ("url", "api_key", "useridentifier")

    @property
    def v3_key(self) -> str:
        return self.api_key_v3 or self.api_key or ""

    @property
    def base_url(self) -> str | None:
        return self.url.rstrip("/") if self.url else None
