"""The detractor alert message (one per alert, rewritten as it changes) and the "close the loop" modal."""

from __future__ import annotations

from typing import Any

from integrations.slack.blocks import kit
from integrations.slack.blocks.kit import Blocks, escape
from nps_bot.followups.alerts import AlertRow, SurveyDetails

CLAIM_ACTION = "nps_alert_claim"
RESOLVE_ACTION = "nps_alert_resolve"
OUTCOME_VIEW = "nps_alert_outcome"
OUTCOME_BLOCK = "outcome"
OUTCOME_MAX = 300
COMMENT_SHOWN = 2900


def _field(label: str, value: str | None) -> str:
    return f"*{label}*\n{escape(value) if value else '—'}"


def _ticket(d: SurveyDetails) -> str:
    label = escape(f"#{d.ticket_id}")
    return f"<{escape(d.ticket_url)}|{label}>" if d.ticket_url else label


def _status(alert: AlertRow) -> str:
    if alert.resolved_by:
        return f":white_check_mark: Loop closed by <@{alert.resolved_by}>: {escape(alert.outcome or '')}"
    if alert.claimed_by:
        return f":eyes: <@{alert.claimed_by}> is following up"
    return "Nobody is following up yet."


def _buttons(alert: AlertRow) -> kit.Block | None:
    if alert.resolved_by:
        return None
    value = str(alert.id)
    claim = [] if alert.claimed_by else [kit.button(CLAIM_ACTION, "I'll follow up", value, primary=True)]
    return kit.actions(f"nps_alert:{alert.id}", [*claim, kit.button(RESOLVE_ACTION, "Resolved", value)])


def alert_message(d: SurveyDetails, alert: AlertRow, max_score: int) -> tuple[str, Blocks]:
    """The alert as text (notifications) and blocks; pure, so tests can check it directly."""
    group = d.group or "answer"
    who = escape(d.customer_name) if d.customer_name else "A customer"
    if d.score is not None and d.score > max_score:
        head = f":information_source: The customer changed the score to *{d.score}* ({group}); no follow-up needed."
    else:
        head = f":rotating_light: *{d.score}/10 — {group}* from {who}"
    comment = f">{escape(d.comment)[:COMMENT_SHOWN]}".replace("\n", "\n>") if d.comment else "_No comment yet._"
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
        kit.context(_status(alert)),
        _buttons(alert),
    ]
    # The fallback text shows in notifications: escaped too, so a customer name cannot ping @channel.
    text = f"{d.score}/10 ({group}) from {escape(d.customer_name or 'a customer')}, ticket #{escape(d.ticket_id)}"
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
