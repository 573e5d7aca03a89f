"""The generic webhook body: our own schema (README.md, "Generic webhook"), so it is validated as
written: numbers are not turned into text, ids are text or whole numbers (not `true` or `1.0`, which
would name ticket "1"), and a ticket event needs a ticket and a customer."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, StrictInt

from nps_bot.models import SurveyKind
from nps_bot.plugin.payloads import LooseModel, PersonBody, StrictTimestamp

CLOSED_EVENTS = {"ticket.closed", "ticket.solved", "ticket.resolved"}
REOPENED_EVENTS = {"ticket.reopened"}


class _Loose(LooseModel):
    model_config = ConfigDict(coerce_numbers_to_str=False)


class TicketBody(_Loose):
    id: str | StrictInt
    subject: str | None = None
    url: str | None = None
    channel: str | None = None
    team: str | None = None
    tags: list[str] = Field(default_factory=list)
    closed_at: StrictTimestamp = None


class CustomerBody(_Loose):
    email: str | None = None
    name: str | None = None
    id: str | StrictInt | None = None
    slack_user_id: str | None = None
    language: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class AgentBody(PersonBody):
    model_config = ConfigDict(coerce_numbers_to_str=False)

    id: str | StrictInt | None = None


class GenericBody(_Loose):
    event: str
    id: str
    ticket: TicketBody | None = None
    customer: CustomerBody | None = None
    agent: AgentBody | None = None
    survey: SurveyKind = "nps"
