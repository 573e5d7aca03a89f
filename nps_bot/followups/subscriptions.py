"""Channel subscriptions: scheduled digests and real-time alerts. One of each kind per channel;
subscribing again replaces the old rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy import Engine

from nps_bot.store.schema import subscriptions
from nps_bot.store.sql import upsert

Kind = Literal["digest", "alert"]


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    kind: Kind
    platform: str
    channel_id: str
    created_by: str | None
    created_at: datetime
    cron: str | None = None
    timezone: str | None = None
    period_days: int | None = None
    dimension: str | None = None
    max_score: int | None = None
    filter_dimension: str | None = None
    filter_value: str | None = None
    survey_kind: str = "nps"  # the survey kind an alert rule watches


_FIELDS = (
    "cron", "timezone", "period_days", "dimension", "max_score", "filter_dimension", "filter_value", "survey_kind",
)  # fmt: skip


def save(
    engine: Engine,
    *,
    kind: Kind,
    platform: str,
    channel_id: str,
    created_by: str | None,
    now: datetime,
    **rule: object,
) -> Subscription:
    unknown = set(rule) - set(_FIELDS)
    if unknown:
        raise TypeError(f"unknown subscription fields: {sorted(unknown)}")
    values = {f: rule.get(f) for f in _FIELDS} | {"survey_kind": rule.get("survey_kind") or "nps"}
    with engine.begin() as conn:
        upsert(
            conn,
            subscriptions,
            {
                "kind": kind,
                "platform": platform,
                "channel_id": channel_id,
                "created_by": created_by,
                "created_at": now,
                **values,
            },
            ("platform", "kind", "channel_id"),
            lambda excluded: (
                {"created_by": excluded.created_by, "created_at": excluded.created_at}
                | {f: getattr(excluded, f) for f in _FIELDS}
            ),
        )
    (sub,) = list_for(engine, platform=platform, kind=kind, channel_id=channel_id)
    return sub


def list_for(
    engine: Engine, *, platform: str | None = None, kind: Kind | None = None, channel_id: str | None = None
) -> list[Subscription]:
    query = sa.select(subscriptions).order_by(subscriptions.c.id)
    if platform:
        query = query.where(subscriptions.c.platform == platform)
    if kind:
        query = query.where(subscriptions.c.kind == kind)
    if channel_id:
        query = query.where(subscriptions.c.channel_id == channel_id)
    with engine.connect() as conn:
        return [Subscription(**row._mapping) for row in conn.execute(query)]


def remove(engine: Engine, *, platform: str, kind: Kind, channel_id: str) -> bool:
    with engine.begin() as conn:
        result = conn.execute(
            subscriptions.delete().where(
                subscriptions.c.platform == platform,
                subscriptions.c.kind == kind,
                subscriptions.c.channel_id == channel_id,
            )
        )
        return result.rowcount > 0
