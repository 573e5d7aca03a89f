"""The composition root: settings, database, clock, services and the loaded integrations."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.metadata import entry_points

from sqlalchemy import Engine

from nps_bot.clock import Clock, SystemClock
from nps_bot.config import Settings
from nps_bot.delivery.api_limits import ApiLimiter
from nps_bot.delivery.chat_ids import ChatUserIdCache
from nps_bot.delivery.console import ConsoleChannel
from nps_bot.delivery.helpdesk_reply import HelpdeskReplyChannel
from nps_bot.models import Answer
from nps_bot.plugin.ports import (
    AnswerListener,
    DeliveryChannel,
    HelpdeskConnector,
    PeriodicJob,
    ProvidesDeliveryChannels,
    ProvidesPeriodicJobs,
)
from nps_bot.store import create_engine_for, migrate
from nps_bot.surveys.policy import SurveyPolicy
from nps_bot.surveys.privacy import RetentionJob
from nps_bot.surveys.service import SurveyService

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "nps_bot.integrations"


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    clock: Clock
    surveys: SurveyService
    integrations: dict[str, object] = field(default_factory=dict)
    # Jobs registered by hand beside the integrations' own (tests, embedders).
    extra_jobs: list[PeriodicJob] = field(default_factory=list)
    # One per process: every worker thread and integration shares the API budget and the id cache.
    api_limits: ApiLimiter = field(init=False)
    chat_user_ids: ChatUserIdCache = field(init=False)
    # name -> (plugin, is it a connector?): a runtime Protocol check walks the class on every call.
    _connector_checks: dict[str, tuple[object, bool]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.api_limits = ApiLimiter(self.engine)
        self.chat_user_ids = ChatUserIdCache(self.engine, self.clock)

    @classmethod
    def build(
        cls,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        engine: Engine | None = None,
        run_migrations: bool = True,
        load_integrations: bool = True,
    ) -> AppContext:
        settings = settings or Settings()
        engine = engine or create_engine_for(settings.database_url)
        if run_migrations:
            migrate(engine)
        clock = clock or SystemClock()
        policy = SurveyPolicy(
            delay=settings.survey_delay,
            throttle=timedelta(days=settings.throttle_days),
            expiry=settings.survey_expiry,
            sample_rate=settings.sample_rate,
            exclude_tags=frozenset(t.lower() for t in settings.exclude_tags),
            internal_domains=frozenset(d.lower().lstrip("@") for d in settings.internal_domains),
            require_customer_reply=settings.require_customer_reply,
            agent_credit=settings.agent_credit,
        )
        ctx = cls(settings, engine, clock, SurveyService(engine, policy, clock, settings.default_language))
        if settings.retention_days:
            ctx.extra_jobs.append(RetentionJob(engine, settings.retention_days))
        if load_integrations:
            ctx.load_integrations()
        return ctx

    def load_integrations(self) -> None:
        """Instantiate every registered integration; one that fails to load is logged, not fatal."""
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                plugin = ep.load()(self)
            except Exception:
                log.exception("integration %r failed to load; it is disabled", ep.name)
                continue
            if plugin is not None:
                self.integrations[ep.name] = plugin

    def connector(self, name: str) -> HelpdeskConnector | None:
        plugin = self.integrations.get(name)
        checked = self._connector_checks.get(name)
        if checked is None or checked[0] is not plugin:  # re-checked when the plugin was replaced
            checked = self._connector_checks[name] = (plugin, isinstance(plugin, HelpdeskConnector))
        return plugin if checked[1] else None  # type: ignore[return-value]

    def delivery_channels(self) -> list[DeliveryChannel]:
        """Channels in the configured order; by default every real channel, else the console."""
        available: dict[str, DeliveryChannel] = {}
        for plugin in self.integrations.values():
            if isinstance(plugin, ProvidesDeliveryChannels):
                for channel in plugin.delivery_channels():
                    available.setdefault(channel.name, channel)
        console = ConsoleChannel(self.settings)
        if self.settings.delivery:
            # Opt-in only: posting into tickets is a visible change in every help desk.
            available["helpdesk"] = HelpdeskReplyChannel(self.integrations.get)
            available[console.name] = console
            missing = [n for n in self.settings.delivery if n not in available]
            if missing:
                log.warning("delivery channels not available: %s", ", ".join(missing))
            return [available[n] for n in self.settings.delivery if n in available]
        return list(available.values()) or [console]

    def periodic_jobs(self) -> list[PeriodicJob]:
        jobs: list[PeriodicJob] = []
        for plugin in self.integrations.values():
            if isinstance(plugin, ProvidesPeriodicJobs):
                jobs.extend(plugin.periodic_jobs())
        return jobs + list(self.extra_jobs)

    def answer_listeners(self) -> list[AnswerListener]:
        return [p for p in self.integrations.values() if isinstance(p, AnswerListener)]

    def notify_answer(self, answer: Answer) -> None:
        for listener in self.answer_listeners():
            try:
                listener.on_answer(answer)
            except Exception:
                log.exception("answer listener %s failed", type(listener).__name__)
