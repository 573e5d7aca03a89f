"""Thin Bolt listeners: read the Slack payload, call a service in a thread, answer in Slack.

Each listener acks first (Slack's 3 s limit). integrations.slack.bolt_app registers them.
"""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk import WebClient

from integrations.slack.api import SlackApi
from integrations.slack.listeners.actions import Actions
from integrations.slack.listeners.commands import Commands
from integrations.slack.listeners.events import Events
from integrations.slack.listeners.views import Views
from integrations.slack.services.alerts import AlertService
from integrations.slack.services.surveys import SurveyAnswers
from nps_bot.plugin.ports import Host


@dataclass(frozen=True, slots=True)
class Listeners:
    commands: Commands
    actions: Actions
    views: Views
    events: Events

    @classmethod
    def create(cls, ctx: Host, client: WebClient, admins: frozenset[str], home_people: str = "admins") -> Listeners:
        """Every listener, sharing one set of services over the sync `client`."""
        surveys, alerts = SurveyAnswers(ctx), AlertService(ctx, client)
        company = ctx.settings.company_name
        return cls(
            commands=Commands(ctx, client, admins),
            actions=Actions(surveys, alerts, company),
            views=Views(surveys, alerts, company),
            events=Events(ctx, surveys, SlackApi(client), admins, home_people),
        )
