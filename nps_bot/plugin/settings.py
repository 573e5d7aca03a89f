"""Connector settings: read from NPS_BOT_<VENDOR>_* environment variables (and .env) with pydantic-settings.

`base_config("NPS_BOT_ACME_")` gives a settings class its prefix; `CsvList` reads "a,b" as a list
(several secrets during a rotation). The helpers parse the values admins commonly write.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from nps_bot.config import CsvList, base_config

__all__ = ["CsvList", "base_config", "host_name", "id_names"]


def id_names(values: list[str]) -> dict[str, str]:
    """ "85=Billing,86=Sales" -> {"85": "Billing", "86": "Sales"} (entries without "=" are skipped):
    webhooks often carry only a team or mailbox id, and the admin knows the names."""
    pairs = (v.partition("=") for v in values)
    return {k.strip(): name.strip() for k, sep, name in pairs if sep and k.strip() and name.strip()}


def host_name(value: str | None, domain: str) -> str | None:
    """The API host from what admins paste: "acme", "acme.<domain>", a custom host, or a URL (a page of
    the help desk, "https://acme.<domain>/agent/tickets/5", gives its host; a port is kept)."""
    text = (value or "").strip()
    if "://" not in text:
        text = f"//{text}"  # so urlsplit reads a bare "acme.<domain>/path" as a host too
    host = urlsplit(text).netloc.rpartition("@")[2].lower().rstrip(".")
    if not host:
        return None
    return host if "." in host or ":" in host else f"{host}.{domain}"
