"""The survey DM, the message after an answer, and the "why" modal."""

from __future__ import annotations

from typing import Any

from integrations.slack.blocks import kit
from integrations.slack.blocks.kit import Blocks, escape
from nps_bot.models import Answer, OutgoingSurvey, SurveyKind, SurveyRef
from nps_bot.surveys import i18n
from nps_bot.surveys.wording import FALLBACK_KEYS, QUESTION_KEYS, SCALE_KEYS, followup_key, scale

SCORE_ACTION_PREFIX = "nps_score_"
COMMENT_ACTION = "nps_comment"
COMMENT_VIEW = "nps_comment_view"
COMMENT_BLOCK = "comment"
COMMENT_MAX = 3000
SUBJECT_SHOWN = 200


def score_buttons(token: str, kind: SurveyKind, chosen: int | None = None) -> dict[str, Any]:
    buttons = [
        kit.button(f"{SCORE_ACTION_PREFIX}{n}", str(n), f"{token}:{n}", primary=n == chosen) for n in scale(kind)
    ]
    return kit.actions(f"nps_scores:{token}", buttons)


def _question(lang: str, kind: SurveyKind, company: str) -> Blocks:
    return [kit.section(f"*{escape(i18n.t(lang, QUESTION_KEYS[kind], company=company))}*")]


def _intro(lang: str, company: str, name: str | None, subject: str | None) -> Blocks:
    first = name.split()[0][:SUBJECT_SHOWN] if name and name.split() else None
    greeting = (
        i18n.t(lang, "survey.greeting", name=escape(first), company=escape(company))
        if first
        else i18n.t(lang, "survey.greeting_anonymous", company=escape(company))
    )
    about = i18n.t(lang, "survey.about_ticket", subject=escape(subject[:SUBJECT_SHOWN])) if subject else ""
    return kit.present(kit.section(greeting), kit.context(about))


def _legend(lang: str, kind: SurveyKind) -> Blocks:
    """What each end of the scale means, in the customer's language (every kind)."""
    low, high = SCALE_KEYS[kind]
    return kit.present(kit.context(escape(f"{i18n.t(lang, low)}   ·   {i18n.t(lang, high)}")))


def _ask(lang: str, company: str, s: OutgoingSurvey | SurveyRef, chosen: int | None = None) -> Blocks:
    """Greeting, question, the row of buttons and the legend: the same in the DM and after an answer."""
    return [
        *_intro(lang, company, s.customer_name, s.subject),
        *_question(lang, s.kind, company),
        score_buttons(s.token, s.kind, chosen),
        *_legend(lang, s.kind),
    ]


def survey_message(survey: OutgoingSurvey) -> tuple[str, Blocks]:
    """The DM: greeting, the question, one row of score buttons and the scale legend; the reminder
    says so first (same buttons, same token: its answers land on the same survey)."""
    lang, company = survey.language, survey.company
    text = i18n.t(lang, FALLBACK_KEYS[survey.kind], company=company)
    blocks = _ask(lang, company, survey)
    if survey.reminder:
        reminder = i18n.t(lang, "survey.reminder")
        blocks = [kit.section(escape(reminder)), *blocks]
        text = f"{reminder} {text}"
    return kit.message(blocks, escape(text))


def answered_message(answer: Answer, company: str) -> tuple[str, Blocks]:
    """After a click: thanks with the chosen score, the tailored "why", and the buttons to change it."""
    ref = answer.survey
    lang = ref.language
    thanks = i18n.t(lang, "survey.thanks_score", score=answer.score)
    blocks = [
        *_ask(lang, company, ref, chosen=answer.score),
        kit.section(f":white_check_mark: {thanks} {i18n.t(lang, 'survey.change_hint')}"),
    ]
    if answer.comment:
        blocks.append(kit.section(f"{i18n.t(lang, 'comment.thanks')}\n{kit.quote(answer.comment)}"))
        label = i18n.t(lang, "comment.edit_button")
    else:
        blocks.append(kit.section(i18n.t(lang, followup_key(ref.kind, answer.score))))
        label = i18n.t(lang, "comment.button")
    blocks.append(kit.actions("nps_followup", [kit.button(COMMENT_ACTION, label, ref.token)]))
    return kit.message(blocks, thanks)


def comment_modal(answer: Answer) -> dict[str, Any]:
    """The "why" modal, worded for the customer's group; the survey token rides in private_metadata."""
    ref = answer.survey
    lang = ref.language
    box = kit.text_input(
        COMMENT_BLOCK,
        i18n.t(lang, followup_key(ref.kind, answer.score)),
        max_length=COMMENT_MAX,
        placeholder=i18n.t(lang, "comment.placeholder"),
        multiline=True,
        initial_value=answer.comment or None,
    )
    return kit.modal(
        COMMENT_VIEW,
        ref.token,
        title=i18n.t(lang, "comment.modal_title"),
        submit=i18n.t(lang, "comment.submit"),
        close=i18n.t(lang, "comment.close"),
        blocks=[box],
    )
