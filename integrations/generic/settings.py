"""NPS_BOT_GENERIC_*: the secret(s) the sender signs with (X-NPS-Signature, see nps_bot.plugin.signing)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from nps_bot.plugin.settings import CsvList, base_config


class GenericSettings(BaseSettings):
    model_config = base_config("NPS_BOT_GENERIC_")

    # Comma-separated to allow rotation: sign with the new secret while the old one still verifies.
    secret: CsvList = Field(
        default_factory=list,
        description="verifies webhooks *received* at `/webhooks/generic` (`X-NPS-Signature`); "
        "comma-separated for rotation. Unset: every request gets 401",
    )
    # The customer attributes kept as survey segments ("plan,region"; "*", the default, keeps every one the
    # body's customer.attributes carries).
    attributes: CsvList = Field(
        default_factory=lambda: ["*"],
        description="customer attributes kept as survey segments (`plan,region`; `*` all)",
    )
