"""Service settings: environment variables (NPS_BOT_*), or a .env file in the working directory.

Integrations keep their own settings classes (e.g. NPS_BOT_GENERIC_*, SLACK_*), so the core knows
no vendor names; `base_config()` is the shared model config they reuse.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from nps_bot.durations import parse_duration

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda d: d.total_seconds(), return_type=float),
]


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CsvList = Annotated[list[str], NoDecode, BeforeValidator(_split_csv)]


def base_config(env_prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=env_prefix, env_file=".env", extra="ignore")


class Settings(BaseSettings):
    model_config = base_config("NPS_BOT_")

    database_url: str = Field(
        "sqlite:///nps-bot.db",
        description="SQLite file, or `postgresql://user:pass@host/db` (install `.[postgres]`; add "
        "`?pool_mode=transaction` behind a pooler in transaction mode)",
    )
    host: str = Field("127.0.0.1", description="address `serve` listens on (`0.0.0.0` for every interface)")
    port: int = Field(8080, description="port `serve` listens on")
    # Base of survey links; unset, it follows host and port (so links work on any port).
    public_url: str = Field(
        "",
        description="base of survey links (`/s/<token>`); set it to the address customers reach "
        "(start-up logs the one in use)",
        json_schema_extra={"shown_default": "http://<host>:<port>"},
    )
    company_name: str = Field("our company", description='"How likely are you to recommend **Acme** …"')
    # The hosted survey page's branding (both optional): the page allows the logo's origin in its CSP.
    brand_logo_url: str | None = Field(
        None, description="logo on the hosted survey page (`https://` only; its alt text is the company name)"
    )
    brand_color: str | None = Field(
        None,
        description="survey page accent, `#rrggbb`: the chosen score and buttons (text on it is black or white, "
        "whichever contrasts more)",
        json_schema_extra={"shown_default": "#1264a3"},
    )
    # Signs links that act without a login (e-mail unsubscribe); long and random, kept secret.
    # Changing it invalidates the links already sent.
    secret_key: SecretStr = Field(
        SecretStr(""),
        description="signs e-mail unsubscribe links and help-desk survey links; required for e-mail. To change "
        "it without breaking links already sent, move the old one to `NPS_BOT_SECRET_KEY_PREVIOUS`",
    )
    secret_key_previous: CsvList = Field(
        [],
        description="earlier secret keys, comma-separated: links they signed still work, new links use "
        "`NPS_BOT_SECRET_KEY`; drop one once its links have gone stale",
    )
    default_language: str = Field(
        "en",
        description="survey language when the customer's is unknown "
        "(en, lt, lv, et, uk, hu, de, fr, es, pl, pt, it, nl)",
    )

    survey_delay: Duration = Field(
        timedelta(hours=1), description="delay after the close: seconds, or `15m`, `1h`, `2d` (`0` sends at once)"
    )
    throttle_days: int = Field(
        30, ge=0, description="the same customer is surveyed at most once in this many days (`0`: no limit)"
    )
    survey_expiry: Duration = Field(timedelta(days=14), description="a survey not sent by then expires")
    # One reminder per unanswered survey, on the channel it went out on (README "Reminders").
    reminder_after: Duration | None = Field(
        None,
        description="one reminder of a sent, unanswered survey this long after it went out, e.g. `48h` "
        "(e-mail and Slack DM; never a help-desk reply); off when unset or `0`",
        json_schema_extra={"shown_default": "off"},
    )
    sample_rate: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="survey this share of closed tickets (decided per ticket, stable across redeliveries)",
    )
    exclude_tags: CsvList = Field(
        default_factory=list, description="comma-separated ticket tags that never get a survey"
    )
    # Customers at these e-mail domains are colleagues, not customers: never surveyed.
    internal_domains: CsvList = Field(
        default_factory=list, description="customer e-mail domains that are colleagues, never surveyed"
    )
    # Skip tickets where the customer never wrote publicly (spam, auto-closed, outbound only).
    require_customer_reply: bool = Field(
        False, description="skip tickets where the customer never wrote publicly (when the help desk says)"
    )
    agent_credit: Literal["assignee", "last_replier", "closer"] = Field(
        "assignee", description="who is credited: `assignee`, `last_replier` or `closer` (when the help desk says)"
    )
    # Ordered delivery channels; empty means "the first configured real channel, else console".
    delivery: CsvList = Field(
        default_factory=list,
        description="ordered channels, e.g. `slack,helpdesk,console`; auto = Slack when configured, else console",
        json_schema_extra={"shown_default": "auto"},
    )

    max_body_bytes: int = Field(1024 * 1024, description="larger webhook bodies get 413")
    webhook_tolerance: Duration = Field(
        timedelta(minutes=5), description="maximum age (either direction) of a signed webhook's timestamp"
    )

    embedded_worker: bool = Field(
        True, description="`serve` also runs the delivery worker; set `false` and run `nps-bot worker` separately"
    )
    worker_poll_interval: Duration = Field(
        timedelta(seconds=2), description="how often the worker looks for due surveys and jobs"
    )
    worker_batch_size: int = Field(20, description="surveys one worker claims at a time")
    worker_lease: Duration = Field(
        timedelta(minutes=2), description="how long a claim lasts; a dead worker's surveys are claimed again after it"
    )
    max_delivery_attempts: int = Field(8, description="tries per survey before it is marked `failed`")
    min_segment_n: int = Field(
        10, description='segments with fewer answers are shown as "too few answers", never ranked'
    )
    admins: CsvList = Field(
        default_factory=list,
        description="Slack user ids allowed to change digests and alerts, send and export (besides workspace admins)",
    )
    # Comments and personal fields older than this many days are purged by the worker (off when unset).
    retention_days: int | None = Field(
        None,
        ge=1,
        description="the worker purges comments and personal fields older than this many days (off when unset)",
    )
    log_level: str = Field("INFO", description="`DEBUG`, `INFO`, `WARNING` or `ERROR`")
    log_format: Literal["text", "json"] = Field(
        "text", description="`text` (one readable line) or `json` (one object per line, for log pipelines)"
    )

    @field_validator("reminder_after", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("reminder_after")
    @classmethod
    def _zero_is_off(cls, value: timedelta | None) -> timedelta | None:
        return value or None

    @field_validator("brand_color")
    @classmethod
    def _hex_color(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", value.strip()):
            raise ValueError("must be a colour written #rrggbb, e.g. #1264a3")
        return value.strip().lower()

    @field_validator("brand_logo_url")
    @classmethod
    def _https_logo(cls, value: str | None) -> str | None:
        if not value:
            return None
        # The URL goes into an <img src> and its origin into the Content-Security-Policy header.
        if not re.fullmatch(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s\"'<>;,]*)?", value.strip()):
            raise ValueError("must be an https:// URL (no spaces, quotes, commas or semicolons)")
        return value.strip()

    def verifying_keys(self) -> list[str]:
        """Keys a signed link may carry: the current one, then the earlier ones (rotation)."""
        keys = [self.secret_key.get_secret_value(), *self.secret_key_previous]
        return [k for k in keys if k]

    @model_validator(mode="after")
    def _public_url_follows_the_listener(self) -> Settings:
        if not self.public_url:
            host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
            self.public_url = f"http://{f'[{host}]' if ':' in host else host}:{self.port}"
        return self
