"""Scheduled channel digests on Slack: the job that posts them, with the trend chart under each.

Exactly-once per slot comes from nps_bot.followups.schedule (the digest_runs insert is the claim);
this module only decides what to post and records how it went. The message goes first and is
recorded as posted at once; the chart follows as a file share in the channel. A chart that fails
is noted on the run, never a reason to post the digest twice.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from integrations.slack.api import NO_UNFURL, SlackApi, error_code
from integrations.slack.blocks.digest import digest_blocks, late_note
from integrations.slack.services import PLATFORM
from nps_bot.followups.digests import Digest, build_digest
from nps_bot.followups.schedule import Claim, latest_slot, mark_failed, mark_posted, note_posted, take
from nps_bot.followups.subscriptions import Subscription, list_for
from nps_bot.plugin.ports import Host

log = logging.getLogger(__name__)

CHART_FILENAME = "nps-trend.png"
# Slack errors that the same request will get again: give the slot up instead of retrying it.
PERMANENT_ERRORS = frozenset(
    {
        "account_inactive",
        "channel_not_found",
        "invalid_arguments",
        "invalid_auth",
        "invalid_blocks",
        "is_archived",
        "missing_scope",
        "msg_too_long",
        "no_permission",
        "not_authed",
        "restricted_action",
        "team_access_not_granted",
        "token_expired",
        "token_revoked",
    }
)


class DigestJob:
    """Posts each Slack digest subscription once per slot (nps_bot.plugin.ports.PeriodicJob)."""

    name = "slack-digests"

    def __init__(self, ctx: Host, client: WebClient, owner: str | None = None) -> None:
        self.ctx = ctx
        self.slack = SlackApi(client)
        self.owner = (owner or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}")[:64]
        # Slots known to be posted or given up, per subscription: polls between slots cost one
        # SELECT of the subscriptions and no write.
        self._settled: dict[int, datetime] = {}

    def run_due(self, now: datetime) -> int:
        posted = 0
        for sub in list_for(self.ctx.engine, platform=PLATFORM, kind="digest"):
            slot = latest_slot(sub, now)
            if slot is None or self._settled.get(sub.id) == slot:
                continue
            try:
                state = take(self.ctx.engine, sub.id, slot, self.owner, now)
            except Exception:  # e.g. the subscription was deleted under us; the others still run
                log.exception("digest slot %s for %s could not be claimed", slot, sub.channel_id)
                continue
            if state is Claim.SETTLED:
                self._settled[sub.id] = slot
            elif state is Claim.CLAIMED:
                posted += self._run(sub, slot, now)
        return posted

    def _run(self, sub: Subscription, slot: datetime, now: datetime) -> int:
        engine = self.ctx.engine
        try:
            digest = build_digest(self.ctx, sub, slot)
            text, blocks = digest_blocks(digest, note=late_note(sub, slot, now))
            ref = self.slack.post(sub.channel_id, text, blocks, **NO_UNFURL)
        except SlackApiError as exc:
            error = error_code(exc)
            again = mark_failed(
                engine, sub.id, slot, f"slack: {error}", owner=self.owner, final=error in PERMANENT_ERRORS
            )
            log.warning(
                "digest for %s (slot %s) failed: %s; %s",
                sub.channel_id,
                slot,
                error,
                "retried later" if again else "gave up",
            )
            return 0
        except Exception as exc:  # a bug or an outage must not stop the other subscriptions
            log.exception("digest for %s (slot %s) failed", sub.channel_id, slot)
            mark_failed(engine, sub.id, slot, repr(exc), owner=self.owner)
            return 0
        mark_posted(engine, sub.id, slot, ref, now)
        self._settled[sub.id] = slot
        if problem := self._upload_chart(sub, digest):
            note_posted(engine, sub.id, slot, problem)
        return 1

    def _upload_chart(self, sub: Subscription, digest: Digest) -> str | None:
        """Share the trend chart under the digest; returns what went wrong, if anything."""
        try:
            self.slack.upload(
                sub.channel_id,
                digest.chart_png(),
                CHART_FILENAME,
                digest.chart_title(),
                alt_txt="Weekly NPS line with its 95 % margin-of-error band",
                initial_comment=None,
            )
        except SlackApiError as exc:
            error = error_code(exc)
            log.warning("digest chart for %s not uploaded: %s", sub.channel_id, error)
            return f"chart: slack: {error}"
        except Exception as exc:
            log.exception("digest chart for %s not uploaded", sub.channel_id)
            return f"chart: {exc!r}"
        return None
