"""The detractor alert message (one per alert, rewritten as it changes) and the "close the loop" modal."""

from __future__ import annotations

from typing import Any

from integrations.slack.blocks import kit
from integrations.slack.blocks.kit import Blocks, escape
from nps_bot.followups.alerts import AlertRow, SurveyDetails
from nps_bot.models import SCALES
from nps_bot.reporting.text import kind_name

CLAIM_ACTION = "nps_alert_claim"
RESOLVE_ACTION = "nps_alert_resolve"
OUTCOME_VIEW = "nps_alert_outcome"
OUTCOME_BLOCK = "outcome"
OUTCOME_MAX = 300
COMMENT_SHOWN = 2900


def _field(label: str, value: str | None) -> str:
    return f"*{label}*\n{escape(value) if value else '—'}"


def _ticket(d: SurveyDetails) -> str:
    label = f"#{d.ticket_id}"
    return kit.link(d.ticket_url, label) or escape(kit.fit(label, kit.LINK_LABEL))


def _status(alert: AlertRow, withdrawn: bool) -> str:
    if alert.resolved_by:
        return f":white_check_mark: Loop closed by {kit.mention(alert.resolved_by)}: {escape(alert.outcome or '')}"
    if alert.claimed_by:
        return f":eyes: {kit.mention(alert.claimed_by)} is following up"
    return "No follow-up needed." if withdrawn else "Nobody is following up yet."


def _buttons(alert: AlertRow, withdrawn: bool) -> kit.Block | None:
    if alert.resolved_by or withdrawn:
        return None
    value = str(alert.id)
    claim = [] if alert.claimed_by else [kit.button(CLAIM_ACTION, "I'll follow up", value, primary=True)]
    return kit.actions(f"nps_alert:{alert.id}", [*claim, kit.button(RESOLVE_ACTION, "Resolved", value)])


def alert_message(d: SurveyDetails, alert: AlertRow, max_score: int) -> tuple[str, Blocks]:
    """The alert as text (notifications) and blocks; pure, so tests can check it directly."""
    group = d.group or f"{kind_name(d.kind)} answer"
    who = escape(d.customer_name) if d.customer_name else "A customer"
    top = SCALES.get(d.kind, SCALES["nps"])[1]
    withdrawn = d.score is not None and d.score > max_score
    if withdrawn:
        changed = f"The customer changed the score to *{d.score}/{top}* ({group})"
        head = f":information_source: {changed}; no follow-up needed."
    else:
        head = f":rotating_light: *{d.score}/{top} — {group}* from {who}"
    comment = kit.quote(kit.fit(d.comment, COMMENT_SHOWN)) if d.comment else "_No comment yet._"
    blocks = [
        kit.section(head),
        kit.section(comment),
        kit.fields(
            _field("Customer", d.customer_name),
            _field("Agent", d.agent_name),
            _field("Team", d.team),
            _field("Help desk", d.connector),
            f"*Ticket*\n{_ticket(d)}",
        ),
        kit.context(_status(alert, withdrawn)),
        _buttons(alert, withdrawn),
    ]
    # The fallback text shows in notifications: escaped too, so a customer name cannot ping @channel.
    text = f"{d.score}/{top} ({group}) from {escape(d.customer_name or 'a customer')}, ticket #{escape(d.ticket_id)}"
    return kit.message(blocks, text)


def outcome_modal(alert_id: int) -> dict[str, Any]:
    box = kit.text_input(
        OUTCOME_BLOCK,
        "What was the outcome?",
        max_length=OUTCOME_MAX,
        placeholder="e.g. Called her, refunded the VAT difference",
    )
    return kit.modal(
        OUTCOME_VIEW, str(alert_id), title="Close the loop", submit="Resolved", close="Cancel", blocks=[box]
    )
