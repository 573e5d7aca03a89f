"""NPS_BOT_NICEREPLY_*: the API private key (importer), relay tokens (webhook) and the CSAT scale."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from integrations.nicereply.payloads import CSAT_SCALES
from nps_bot.plugin.settings import CsvList, base_config


class NicereplySettings(BaseSettings):
    model_config = base_config("NPS_BOT_NICEREPLY_")

    private_key: str | None = None
    # Comma-separated to allow rotation (webhook relays).
    secret: CsvList = Field(default_factory=list)
    api_url: str = "https://api.nicereply.com/v1"
    # Number of options on your CSAT surveys: 2 (thumbs), 3 (smileys), 5 or 10 (stars). Unset = CSAT
    # ratings are refused rather than guessed.
    csat_scale: int | None = None
    # Which rating collections the importer reads.
    metrics: CsvList = Field(default_factory=lambda: ["csat", "ces", "nps"])
    # The attributes kept as survey segments ("*", the default, keeps the one there is: nicereply_survey).
    attributes: CsvList = Field(default_factory=lambda: ["*"])

    @field_validator("csat_scale", mode="before")
    @classmethod
    def _scale(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        if value is not None and int(str(value)) not in CSAT_SCALES:
            raise ValueError(f"must be one of {', '.join(map(str, CSAT_SCALES))}")
        return value
