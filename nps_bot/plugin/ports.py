"""The contracts between the core and integrations (help desks, chat platforms, e-mail...).

An integration is found through the `nps_bot.integrations` entry-point group: the entry point
names a factory `create(host: Host) -> object`, and the object takes on any of the roles
below by having the matching attributes. The core only ever talks to these protocols.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

import orjson
from pydantic import ValidationError
from sqlalchemy import Engine
from starlette.routing import BaseRoute

from nps_bot.clock import Clock
from nps_bot.config import Settings
from nps_bot.models import Answer, Delivered, Interaction, OutgoingSurvey
from nps_bot.surveys.service import MAX_COMMENT, SurveyError, SurveyService

__all__ = [
    "MAX_COMMENT",  # the longest comment Host.surveys stores
    "AnswerListener",
    "ApiLimits",
    "BadPayload",
    "ChatIdLookup",
    "ChatUserIds",
    "DeliveryChannel",
    "DeliveryInDoubt",
    "DeliveryRetry",
    "DeliveryUnavailable",
    "HelpdeskConnector",
    "Host",
    "Importer",
    "IntegrationFactory",
    "Pace",
    "Parsed",
    "PeriodicJob",
    "ProvidesDeliveryChannels",
    "ProvidesLifespan",
    "ProvidesPeriodicJobs",
    "ProvidesPreflight",
    "ProvidesRoutes",
    "RateLimited",
    "ReplyPoster",
    "ReportsReadiness",
    "StartupError",
    "SurveyEnricher",
    "SurveyError",  # raised by Host.surveys (e.g. record_external_answer) for answers it cannot take
    "SurveyNames",
    "Unauthorized",
    "WebhookError",
    "WebhookRequest",
    "describe",
    "json_object",
    "json_value",
    "parses_in_memory",
]


class WebhookError(Exception):
    """Raised by a connector; the web layer turns it into an HTTP answer with `reason`."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unauthorized(WebhookError):
    status = 401


class BadPayload(WebhookError):
    status = 400


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """A received webhook as connectors see it: raw bytes (signatures cover them) and lower-cased headers."""

    body: bytes
    headers: Mapping[str, str]
    query: Mapping[str, str]
    received_at: datetime
    path_params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a payload meant: interactions to survey, or nothing with the reason it was ignored."""

    interactions: Sequence[Interaction] = ()
    ignored: str | None = None


@runtime_checkable
class HelpdeskConnector(Protocol):
    """Served at POST /webhooks/<name>. `verify` and `parse` run in a worker thread, unless the class is
    marked `@parses_in_memory` (then small bodies are handled on the server's event loop)."""

    name: str

    def verify(self, request: WebhookRequest) -> None:
        """Raise Unauthorized unless the request provably comes from the help desk."""

    def parse(self, request: WebhookRequest) -> Parsed:
        """Raise BadPayload for malformed input; return Parsed(ignored=...) for other events."""


C = TypeVar("C", bound=type)


def parses_in_memory(cls: C) -> C:
    """Class decorator for a connector whose `verify` and `parse` only compute (no database, network or
    file access): the server then runs them on its event loop for bodies up to 64 KiB, saving a thread
    hand-off per webhook, which cost more than the parsing (bench/PROFILE.md). Leave it off when in doubt:
    a blocking call there would stall every request."""
    cls.parses_in_memory = True  # type: ignore[attr-defined]
    return cls


class DeliveryUnavailable(Exception):
    """This channel cannot reach this customer; the worker tries the next channel."""


class DeliveryRetry(Exception):
    """A passing failure (rate limit, outage); the worker retries later."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class DeliveryInDoubt(DeliveryRetry):
    """A passing failure after which the survey may have gone out all the same (a timeout or a dropped
    connection after sending, a 5xx); the worker retries later with `OutgoingSurvey.maybe_delivered`
    set, so a channel that can find its earlier message looks before sending again."""


@runtime_checkable
class DeliveryChannel(Protocol):
    """Puts a survey in front of a customer (chat DM, help-desk reply, e-mail...). Sync: runs in the worker."""

    name: str

    def deliver(self, survey: OutgoingSurvey) -> Delivered: ...


@runtime_checkable
class AnswerListener(Protocol):
    """Told about every score and comment (alerts, outbound webhooks...)."""

    def on_answer(self, answer: Answer) -> None: ...


@runtime_checkable
class ProvidesRoutes(Protocol):
    def routes(self) -> Sequence[BaseRoute]: ...


@runtime_checkable
class ProvidesLifespan(Protocol):
    """Long-running parts (e.g. a Socket Mode connection) started and stopped with the web app."""

    def lifespan(self) -> AbstractAsyncContextManager[None]: ...


class StartupError(Exception):
    """A setting that can never work (e.g. a revoked token): `serve` prints the message as one line and exits."""


@runtime_checkable
class ProvidesPreflight(Protocol):
    """Checked before `serve` listens: raise StartupError for what retrying cannot fix; passing failures
    (network, 5xx) should only be logged, for the lifespan to retry."""

    def preflight(self) -> None: ...


@runtime_checkable
class ReportsReadiness(Protocol):
    """Part of GET /readyz: (name, state in words, ready), or None when there is nothing to report.
    Not ready makes /readyz answer 503."""

    def readiness(self) -> tuple[str, str, bool] | None: ...


@runtime_checkable
class ProvidesDeliveryChannels(Protocol):
    def delivery_channels(self) -> Sequence[DeliveryChannel]: ...


@dataclass(frozen=True, slots=True)
class Pace:
    """A vendor's rate limit for one method: `per_minute` calls a minute on average, `burst` back to back."""

    per_minute: float
    burst: int = 1

    @property
    def interval(self) -> float:
        return 60.0 / self.per_minute


class RateLimited(Exception):
    """The method is paused (after a 429) or paced further ahead than the caller would wait."""

    def __init__(self, key: str, retry_after: float) -> None:
        super().__init__(f"{key}: rate limited for {retry_after:.1f}s")
        self.key = key
        self.retry_after = retry_after


class ApiLimits(Protocol):
    """Rate limits of outbound APIs shared by every worker in every process (`Host.api_limits`).

    Keys name one method of one vendor, e.g. "slack:users.lookupByEmail".
    """

    def acquire(self, key: str, pace: Pace | None, max_wait: float, shared: bool = True) -> None:
        """Wait for the next call slot of `key` (never inside a pause); raise RateLimited instead when
        that is more than `max_wait` seconds away. `shared=False` paces this process only (for keys
        too many to keep in the database, such as one per chat channel)."""

    def pause(self, key: str, seconds: float) -> None:
        """Nobody calls `key` for `seconds` (the vendor answered 429 with this Retry-After)."""


@dataclass(frozen=True, slots=True)
class ChatIdLookup:
    """What the last look-up of a customer's chat user id by e-mail found (None: nobody), and when."""

    user_id: str | None
    checked_at: datetime


class ChatUserIds(Protocol):
    """Chat user ids found by e-mail, kept with the customer so a rate-limited look-up is not repeated
    for every survey (`Host.chat_user_ids`)."""

    def cached(self, email: str) -> ChatIdLookup | None:
        """The last look-up for this e-mail address; None when it was never looked up."""

    def remember(self, email: str, user_id: str | None) -> None:
        """Store what a look-up found (None: no such user), stamped now."""


class Host(Protocol):
    """The running service as an integration sees it (`nps_bot.app.AppContext` is the implementation)."""

    settings: Settings
    engine: Engine
    clock: Clock
    surveys: SurveyService
    integrations: dict[str, object]
    api_limits: ApiLimits
    chat_user_ids: ChatUserIds

    def connector(self, name: str) -> HelpdeskConnector | None: ...

    def delivery_channels(self) -> list[DeliveryChannel]: ...

    def periodic_jobs(self) -> list[PeriodicJob]: ...

    def notify_answer(self, answer: Answer) -> None: ...


class IntegrationFactory(Protocol):
    def __call__(self, host: Host) -> object: ...


@runtime_checkable
class ReplyPoster(Protocol):
    """A help-desk connector that can post the survey into the ticket the customer used.

    Raise DeliveryUnavailable when this ticket cannot take a reply (missing ids, closed for good)
    and DeliveryRetry for passing failures; nps_bot.plugin.http.send does both for you.
    """

    name: str

    def post_survey(self, survey: OutgoingSurvey) -> Delivered: ...


@dataclass(frozen=True, slots=True)
class SurveyNames:
    """Display names for what a webhook named by id only; None / missing = leave as stored."""

    agent_name: str | None = None
    team: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)  # attribute name -> the label of its value


@runtime_checkable
class SurveyEnricher(Protocol):
    """A help-desk connector whose webhooks carry ids where people read names (agent, team, dropdown
    option). The delivery worker calls it before a stored survey is delivered, and stores what it
    returns (`SurveyService.set_display_names`), so reports by agent and team show names.

    Runs in the worker, never in the webhook: it may call the vendor API, but should cache
    (`nps_bot.plugin.names.NameCache`) and must not raise for a vendor failure (return None).
    """

    name: str

    def enrich_survey(self, survey: OutgoingSurvey) -> SurveyNames | None: ...


@runtime_checkable
class Importer(Protocol):
    """Backfills answers collected elsewhere: `nps-bot import <name> --since YYYY-MM-DD`."""

    name: str

    def run_import(self, since: datetime, until: datetime | None = None) -> int:
        """Import every answer in the window; returns how many were stored (new or updated)."""


@runtime_checkable
class PeriodicJob(Protocol):
    """Work the delivery worker also runs on every poll (digests due, alerts to retry, outbox).

    Must be safe with many workers: claim rows with unique keys or leases before acting.
    """

    name: str

    def run_due(self, now: datetime) -> int:
        """Do what is due at `now`; returns how many items were handled."""


@runtime_checkable
class ProvidesPeriodicJobs(Protocol):
    def periodic_jobs(self) -> Sequence[PeriodicJob]: ...


# Every digit as "0", so that one search finds a run of 19 (a regex scan cost as much as json.loads).
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19


def json_value(body: bytes) -> Any:
    """The body as JSON of any shape (for bodies that may be a list), or BadPayload with the reason."""
    # orjson parses a webhook body in a third of json's time. It refuses some input json takes (NaN,
    # 1e400, lone surrogates) and reads integers past 64 bits as floats (an id would lose digits): that
    # input, a body with 19 digits in a row, and bad JSON go to json, so the result and the error
    # messages are json's.
    if _LONG_NUMBER not in body.translate(_DIGITS_AS_ZERO):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(body)
    except RecursionError:
        raise BadPayload("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # bad JSON, bad UTF-8, or an integer longer than Python's int-string limit
        raise BadPayload(f"malformed JSON: {exc}") from None


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or BadPayload with the reason (for the 400 answer)."""
    data = json_value(body)
    if not isinstance(data, dict):
        raise BadPayload("body must be a JSON object")
    return data


def describe(error: ValidationError) -> str:
    """A short, readable reason from pydantic's errors (the first three), without the input values."""
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)
