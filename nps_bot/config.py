"""Service settings: environment variables (NPS_BOT_*), or a .env file in the working directory.

Integrations keep their own settings classes (e.g. NPS_BOT_GENERIC_*, SLACK_*), so the core knows
no vendor names; `base_config()` is the shared model config they reuse.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, SecretStr, model_validator
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

    database_url: str = "sqlite:///nps-bot.db"
    host: str = "127.0.0.1"
    port: int = 8080
    # Base of survey links; unset, it follows host and port (so links work on any port).
    public_url: str = ""
    company_name: str = "our company"
    # Signs links that act without a login (e-mail unsubscribe); long and random, kept secret.
    # Changing it invalidates the links already sent.
    secret_key: SecretStr = SecretStr("")
    default_language: str = "en"

    survey_delay: Duration = timedelta(hours=1)
    throttle_days: int = Field(30, ge=0)
    survey_expiry: Duration = timedelta(days=14)
    sample_rate: float = Field(1.0, ge=0.0, le=1.0)
    exclude_tags: CsvList = Field(default_factory=list)
    # Customers at these e-mail domains are colleagues, not customers: never surveyed.
    internal_domains: CsvList = Field(default_factory=list)
    # Skip tickets where the customer never wrote publicly (spam, auto-closed, outbound only).
    require_customer_reply: bool = False
    agent_credit: Literal["assignee", "last_replier", "closer"] = "assignee"
    # Ordered delivery channels; empty means "the first configured real channel, else console".
    delivery: CsvList = Field(default_factory=list)

    max_body_bytes: int = 1024 * 1024
    webhook_tolerance: Duration = timedelta(minutes=5)

    embedded_worker: bool = True
    worker_poll_interval: Duration = timedelta(seconds=2)
    worker_batch_size: int = 20
    worker_lease: Duration = timedelta(minutes=2)
    max_delivery_attempts: int = 8
    min_segment_n: int = 10
    admins: CsvList = Field(default_factory=list)
    # Comments and personal fields older than this many days are purged by the worker (off when unset).
    retention_days: int | None = Field(None, ge=1)
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _public_url_follows_the_listener(self) -> Settings:
        if not self.public_url:
            host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
            self.public_url = f"http://{f'[{host}]' if ':' in host else host}:{self.port}"
        return self
