"""Who may do what: workspace admins and owners, and the user ids in NPS_BOT_ADMINS."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from integrations.slack.api import SlackApi, error_code

log = logging.getLogger(__name__)


def is_admin(slack: SlackApi, user_id: str, admins: frozenset[str]) -> bool:
    if user_id in admins:
        return True
    try:
        user = slack.user(user_id)
    except SlackApiError as exc:  # cannot tell: the safe answer is no
        log.warning("users.info failed: %s", error_code(exc))
        return False
    return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
