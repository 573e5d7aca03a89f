"""Block Kit builders: pure functions from survey facts to Slack payloads (easy to test)."""

from __future__ import annotations

from typing import Any

from nps_bot.models import Answer, OutgoingSurvey, SurveyKind
from nps_bot.reporting.queries import ScoreReport
from nps_bot.reporting.text import headline, segment_table, split
from nps_bot.surveys import i18n
from nps_bot.surveys.wording import QUESTION_KEYS, followup_key, scale

SCORE_ACTION_PREFIX = "nps_score_"
COMMENT_ACTION = "nps_comment"
COMMENT_VIEW = "nps_comment_view"
COMMENT_BLOCK = "comment"
TEXT_LIMIT = 3000  # section text limit

Blocks = list[dict[str, Any]]


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text[:TEXT_LIMIT]}


def _plain(text: str, limit: int = 75) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:limit], "emoji": True}


def escape(text: str) -> str:
    """Slack mrkdwn control characters, so customer text cannot ping @channel or fake links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def score_buttons(token: str, kind: SurveyKind, chosen: int | None = None) -> dict[str, Any]:
    elements = []
    for n in scale(kind):
        button: dict[str, Any] = {
            "type": "button",
            "action_id": f"{SCORE_ACTION_PREFIX}{n}",
            "text": _plain(str(n)),
            "value": f"{token}:{n}",
        }
        if n == chosen:
            button["style"] = "primary"
        elements.append(button)
    return {"type": "actions", "block_id": f"nps_scores:{token}"[:255], "elements": elements}


def _question(lang: str, kind: SurveyKind, company: str) -> str:
    return i18n.t(lang, QUESTION_KEYS[kind], company=company)


def _intro(lang: str, company: str, name: str | None, subject: str | None) -> Blocks:
    greeting = (
        i18n.t(lang, "survey.greeting", name=escape(name.split()[0]), company=escape(company))
        if name
        else i18n.t(lang, "survey.greeting_anonymous", company=escape(company))
    )
    blocks: Blocks = [{"type": "section", "text": _mrkdwn(greeting)}]
    if subject:
        blocks.append(
            {
                "type": "context",
                "elements": [_mrkdwn(i18n.t(lang, "survey.about_ticket", subject=escape(subject[:200])))],
            }
        )
    return blocks


def _legend(lang: str, kind: SurveyKind) -> Blocks:
    if kind != "nps":
        return []
    return [
        {
            "type": "context",
            "elements": [_mrkdwn(f"{i18n.t(lang, 'survey.scale_low')}   ·   {i18n.t(lang, 'survey.scale_high')}")],
        }
    ]


def survey_message(survey: OutgoingSurvey) -> tuple[str, Blocks]:
    """The DM: greeting, the question, one row of score buttons and the scale legend."""
    lang, company = survey.language, survey.company
    question = _question(lang, survey.kind, company)
    blocks = [
        *_intro(lang, company, survey.customer_name, survey.subject),
        {"type": "section", "text": _mrkdwn(f"*{escape(question)}*")},
        score_buttons(survey.token, survey.kind),
        *_legend(lang, survey.kind),
    ]
    return i18n.t(lang, "survey.fallback_text", company=company), blocks


def answered_message(answer: Answer, company: str) -> tuple[str, Blocks]:
    """After a click: thanks with the chosen score, the tailored "why", and the buttons to change it."""
    ref = answer.survey
    lang = ref.language
    thanks = i18n.t(lang, "survey.thanks_score", score=answer.score)
    blocks: Blocks = [
        *_intro(lang, company, ref.customer_name, ref.subject),
        {"type": "section", "text": _mrkdwn(f"*{escape(_question(lang, ref.kind, company))}*")},
        score_buttons(ref.token, ref.kind, chosen=answer.score),
        *_legend(lang, ref.kind),
        {
            "type": "section",
            "text": _mrkdwn(f":white_check_mark: {thanks} {i18n.t(lang, 'survey.change_hint')}"),
        },
    ]
    if answer.comment:
        quoted = "\n".join(f"> {line}" for line in escape(answer.comment).splitlines() or [""])
        blocks.append({"type": "section", "text": _mrkdwn(f"{i18n.t(lang, 'comment.thanks')}\n{quoted}")})
        label = i18n.t(lang, "comment.edit_button")
    else:
        blocks.append({"type": "section", "text": _mrkdwn(i18n.t(lang, followup_key(ref.kind, answer.score)))})
        label = i18n.t(lang, "comment.button")
    blocks.append(
        {
            "type": "actions",
            "block_id": "nps_followup",
            "elements": [{"type": "button", "action_id": COMMENT_ACTION, "text": _plain(label), "value": ref.token}],
        }
    )
    return thanks, blocks


def comment_modal(answer: Answer) -> dict[str, Any]:
    """The "why" modal, worded for the customer's group; the survey token rides in private_metadata."""
    ref = answer.survey
    lang = ref.language
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": COMMENT_BLOCK,
        "multiline": True,
        "max_length": 3000,
        "placeholder": _plain(i18n.t(lang, "comment.placeholder"), 150),
    }
    if answer.comment:
        element["initial_value"] = answer.comment
    return {
        "type": "modal",
        "callback_id": COMMENT_VIEW,
        "private_metadata": ref.token,
        "title": _plain(i18n.t(lang, "comment.modal_title"), 24),
        "submit": _plain(i18n.t(lang, "comment.submit"), 24),
        "close": _plain(i18n.t(lang, "comment.close"), 24),
        "blocks": [
            {
                "type": "input",
                "block_id": COMMENT_BLOCK,
                "label": _plain(i18n.t(lang, followup_key(ref.kind, answer.score)), 2000),
                "element": element,
            }
        ],
    }


def report_blocks(report: ScoreReport) -> tuple[str, Blocks]:
    text = headline(report)
    blocks: Blocks = [{"type": "section", "text": _mrkdwn(f"*{text}*")}]
    if report.overall.n:
        blocks.append({"type": "context", "elements": [_mrkdwn(split(report.overall))]})
    if report.dimension:
        table = segment_table(report)
        if len(table) > TEXT_LIMIT - 10:
            table = table[: TEXT_LIMIT - 20].rsplit("\n", 1)[0] + "\n…"
        blocks.append({"type": "section", "text": _mrkdwn(f"```{table}```")})
    return text, blocks
