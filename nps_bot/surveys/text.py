"""The survey as text for channels that are not chat buttons: help-desk replies and e-mail.

Each score is a one-click link to the hosted page (`/s/<token>?score=N`), so the customer answers
with one click from the conversation they were already in.
"""

from __future__ import annotations

import html

from nps_bot.models import OutgoingSurvey
from nps_bot.surveys import i18n
from nps_bot.surveys.wording import QUESTION_KEYS, scale


def score_url(survey: OutgoingSurvey, score: int) -> str:
    return f"{survey.survey_url}?score={score}"


def _greeting(survey: OutgoingSurvey) -> str:
    if survey.customer_name:
        first = survey.customer_name.split()[0]
        return i18n.t(survey.language, "survey.greeting", name=first, company=survey.company)
    return i18n.t(survey.language, "survey.greeting_anonymous", company=survey.company)


def as_text(survey: OutgoingSurvey) -> str:
    lang = survey.language
    question = i18n.t(lang, QUESTION_KEYS[survey.kind], company=survey.company)
    lines = [_greeting(survey), "", question, ""]
    lines += [f"{n}: {score_url(survey, n)}" for n in scale(survey.kind)]
    if survey.kind == "nps":
        lines += ["", f"{i18n.t(lang, 'survey.scale_low')} · {i18n.t(lang, 'survey.scale_high')}"]
    return "\n".join(lines)


def as_markdown(survey: OutgoingSurvey) -> str:
    lang = survey.language
    question = i18n.t(lang, QUESTION_KEYS[survey.kind], company=survey.company)
    links = " ".join(f"[{n}]({score_url(survey, n)})" for n in scale(survey.kind))
    legend = ""
    if survey.kind == "nps":
        legend = f"\n\n{i18n.t(lang, 'survey.scale_low')} · {i18n.t(lang, 'survey.scale_high')}"
    return f"{_greeting(survey)}\n\n**{question}**\n\n{links}{legend}"


def as_html(survey: OutgoingSurvey) -> str:
    lang = survey.language
    question = html.escape(i18n.t(lang, QUESTION_KEYS[survey.kind], company=survey.company))
    cells = "".join(
        f'<a href="{html.escape(score_url(survey, n))}" style="display:inline-block;min-width:28px;padding:6px 4px;'
        f'margin:2px;border:1px solid #bbb;border-radius:4px;text-align:center;text-decoration:none">{n}</a>'
        for n in scale(survey.kind)
    )
    legend = ""
    if survey.kind == "nps":
        low, high = (html.escape(i18n.t(lang, k)) for k in ("survey.scale_low", "survey.scale_high"))
        legend = f'<p style="color:#666;font-size:12px">{low} · {high}</p>'
    return f"<p>{html.escape(_greeting(survey))}</p><p><strong>{question}</strong></p><p>{cells}</p>{legend}"
