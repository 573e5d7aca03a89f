"""Reply-back: posting the survey into the ticket the customer used (`ReplyPoster.post_survey`).

Every help-desk connector decides the same way whether it may call the vendor's API at all:
reply-back is on by default once the API credentials are set, and an explicit `reply=false` turns
it off. `ReplyBackSettings` and `require_reply_back` hold that rule, so the worker's reasons read
the same for every vendor. The survey renderers are re-exported for connectors' message bodies.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from nps_bot.models import Delivered
from nps_bot.plugin.ports import DeliveryRetry, DeliveryUnavailable
from nps_bot.surveys.text import as_html, as_markdown, as_text

__all__ = [
    "ReplyBackSettings",
    "as_html",
    "as_markdown",
    "as_text",
    "delivered",
    "nothing_raises_after_posting",
    "numeric_id",
    "reply_ids",
    "reply_target",
    "require_closed",
    "require_reply_back",
]


class ReplyBackSettings:
    """Mixin for a connector's pydantic settings that have a `reply: bool | None` field.

    `credentials` names the fields the vendor API needs; error messages turn them into the
    environment variables to set (the settings' env_prefix + the field name).
    """

    credentials: ClassVar[tuple[str, ...]] = ()
    if TYPE_CHECKING:  # a pydantic field of the settings class; not declared here, so pydantic keeps it there
        reply: bool | None
        model_config: ClassVar[Any]

    @property
    def has_credentials(self) -> bool:
        return not self.missing_credentials()

    @property
    def reply_enabled(self) -> bool:
        return self.has_credentials if self.reply is None else self.reply

    def missing_credentials(self) -> list[str]:
        """The environment variables still to set for reply-back, e.g. ["NPS_BOT_ZENDESK_EMAIL"]."""
        return [self.env_name(field) for field in self.credentials if not getattr(self, field)]

    def env_name(self, field: str) -> str:
        prefix = type(self).model_config.get("env_prefix", "") if hasattr(type(self), "model_config") else ""
        return f"{prefix}{field}".upper()


def require_reply_back(connector: str, settings: ReplyBackSettings) -> None:
    """Raise DeliveryUnavailable unless reply-back is on and configured: the worker then tries the next
    channel instead of retrying a call that cannot work. The reason names what to set."""
    if settings.reply is False:
        raise DeliveryUnavailable(f"{connector} reply-back is off ({settings.env_name('reply')}=false)")
    missing = settings.missing_credentials()
    if missing:
        names = ", ".join(missing)
        if settings.reply is None:
            verb = "is" if len(missing) == 1 else "are"
            raise DeliveryUnavailable(f"{connector} reply-back is off until {names} {verb} set")
        raise DeliveryUnavailable(f"{connector} reply-back needs {names} to be set")


def delivered(connector: str, ticket: str, ref: object | None = None) -> Delivered:
    """Delivered with the ref "<ticket>:<vendor's id for the posted message>" (just the ticket when the
    vendor returned no id), so a later update or support question can find the message."""
    return Delivered(connector, f"{ticket}:{ref}"[:255] if ref else str(ticket)[:255])


@contextmanager
def nothing_raises_after_posting(log: logging.Logger, what: str) -> Iterator[None]:
    """For the clean-up after the survey is posted (restoring a status, closing again): a failure is
    only logged, because raising would make the worker post the survey a second time."""
    try:
        yield
    except (DeliveryRetry, DeliveryUnavailable) as exc:
        log.warning("%s: %s", what, exc)


def reply_ids(**ids: str | None) -> dict[str, str]:
    """An Interaction's `reply_context`: the ids post_survey needs later (conversation, account, contact...),
    leaving out those the webhook did not carry, so post_survey can tell "missing" by absence."""
    return {name: value for name, value in ids.items() if value}


def numeric_id(what: str, value: str | None) -> str:
    """The id a vendor API path needs, or DeliveryUnavailable ("zendesk ticket id 'abc' is not numeric"):
    a body written by hand can carry anything, and only digits go into the URL."""
    if not (value and value.isascii() and value.isdigit()):  # str.isdigit alone also takes "²" and "١٢٣"
        raise DeliveryUnavailable(f"{what} id {value!r} is not numeric")
    return value


def reply_target(connector: str, settings: ReplyBackSettings, what: str, ident: str | None) -> str:
    """`require_reply_back`, then `numeric_id`: how every post_survey that calls the vendor by id starts."""
    require_reply_back(connector, settings)
    return numeric_id(what, ident)


def require_closed(
    what: str,
    ident: str,
    status: object,
    closed: Container[object],
    *,
    field: str = "status",
    shown: object = None,
    active: str = "an active ticket",
) -> None:
    """The check before posting into a ticket: the vendor's answer must carry its status (else
    DeliveryRetry "<what>: response without a <field>") and the status must still be one of `closed`
    (else DeliveryUnavailable "<what> <ident> is <status> again; not posting a survey into <active>"),
    so a customer who re-opened the ticket never gets a survey in the middle of the conversation."""
    if isinstance(status, bool) or not isinstance(status, str | int):
        raise DeliveryRetry(f"{what}: response without a {field}")
    if status not in closed:
        raise DeliveryUnavailable(f"{what} {ident} is {shown or status} again; not posting a survey into {active}")
