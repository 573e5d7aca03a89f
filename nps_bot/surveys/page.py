"""The hosted survey page: one-click links (`/s/<token>?score=N`) for e-mail, help-desk replies and
customers without chat; then the follow-up "why" on the same page. No JavaScript needed."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from nps_bot.models import Answer, SurveyRef
from nps_bot.surveys import i18n
from nps_bot.surveys.service import MAX_COMMENT, SurveyError, SurveyNotFound, SurveyService
from nps_bot.surveys.wording import QUESTION_KEYS, followup_key, scale

log = logging.getLogger(__name__)

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1d1c1d}
.scale{display:flex;flex-wrap:wrap;gap:.35rem;margin:1rem 0}
.scale button{min-width:2.6rem;padding:.6rem;border:1px solid #bbb;border-radius:.4rem;
  background:#fff;font-size:1rem;cursor:pointer}
.scale button.chosen{background:#1264a3;color:#fff;border-color:#1264a3}
.legend{display:flex;justify-content:space-between;color:#616061;font-size:.85rem}
textarea{width:100%;min-height:7rem;font:inherit;padding:.5rem}
.send{margin-top:.6rem;padding:.6rem 1.2rem;font-size:1rem}
"""


def _page(lang: str, title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="{html.escape(lang)}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>",
        status_code=status,
    )


def survey_page_routes(
    service: SurveyService, notify_answer: Callable[[Answer], None], company: str
) -> list[BaseRoute]:

    def scale_form(ref: SurveyRef, chosen: int | None) -> str:
        lang = ref.language
        buttons = "".join(
            f'<button name="score" value="{n}"{" class=chosen" if n == chosen else ""}>{n}</button>'
            for n in scale(ref.kind)
        )
        legend = ""
        if ref.kind == "nps":
            legend = (
                f'<div class="legend"><span>{html.escape(i18n.t(lang, "survey.scale_low"))}</span>'
                f"<span>{html.escape(i18n.t(lang, 'survey.scale_high'))}</span></div>"
            )
        question = i18n.t(lang, QUESTION_KEYS[ref.kind], company=company)
        return (
            f"<h1>{html.escape(question)}</h1>"
            f'<form method="post" action="/s/{html.escape(ref.token)}">'
            f'<div class="scale">{buttons}</div></form>{legend}'
        )

    def followup(answer: Answer) -> str:
        ref = answer.survey
        lang = ref.language
        prompt = i18n.t(lang, followup_key(ref.kind, answer.score))
        return (
            f"<p>{html.escape(i18n.t(lang, 'survey.thanks_score', score=answer.score))}</p>"
            f'<form method="post" action="/s/{html.escape(ref.token)}/comment">'
            f'<label for="c"><strong>{html.escape(prompt)}</strong></label>'
            f'<textarea id="c" name="comment" maxlength="{MAX_COMMENT}" '
            f'placeholder="{html.escape(i18n.t(lang, "comment.placeholder"))}">'
            f"{html.escape(answer.comment or '')}</textarea>"
            f'<button class="send">{html.escape(i18n.t(lang, "web.submit"))}</button></form>'
        )

    def not_found(lang: str = "en") -> HTMLResponse:
        msg = i18n.t(lang, "web.not_found")
        return _page(lang, msg, f"<h1>{html.escape(msg)}</h1>", 404)

    async def record(ref: SurveyRef, score: int, request: Request) -> Response:
        try:
            answer = await run_in_threadpool(service.record_score, ref.token, score, source="web")
        except SurveyError as exc:
            return _page(ref.language, str(exc), f"<p>{html.escape(i18n.t(ref.language, 'web.expired'))}</p>", 409)
        await run_in_threadpool(notify_answer, answer)
        title = i18n.t(ref.language, "web.title", company=company)
        return _page(ref.language, title, scale_form(ref, score) + followup(answer))

    async def show(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            ref = await run_in_threadpool(service.find, token)
        except SurveyNotFound:
            return not_found()
        raw = request.query_params.get("score")
        if raw is not None:  # one-click link from an e-mail or help-desk reply
            if not raw.isdigit():
                return _page(ref.language, "Bad score", "<p>score must be a number</p>", 400)
            return await record(ref, int(raw), request)
        title = i18n.t(ref.language, "web.title", company=company)
        return _page(ref.language, title, scale_form(ref, None))

    async def submit_score(request: Request) -> Response:
        token = request.path_params["token"]
        form = await request.form()
        raw = str(form.get("score", ""))
        if not raw.isdigit():
            return _page("en", "Bad score", "<p>score must be a number</p>", 400)
        return RedirectResponse(f"/s/{token}?score={int(raw)}", status_code=303)

    async def submit_comment(request: Request) -> Response:
        token = request.path_params["token"]
        form = await request.form()
        comment = str(form.get("comment", ""))
        try:
            answer = await run_in_threadpool(service.record_comment, token, comment)
        except SurveyNotFound:
            return not_found()
        except SurveyError as exc:
            return _page("en", str(exc), f"<p>{html.escape(str(exc))}</p>", 409)
        await run_in_threadpool(notify_answer, answer)
        lang = answer.survey.language
        msg = i18n.t(lang, "comment.thanks")
        return _page(
            lang,
            i18n.t(lang, "web.thanks"),
            f"<h1>{html.escape(i18n.t(lang, 'web.thanks'))}</h1><p>{html.escape(msg)}</p>",
        )

    return [
        Route("/s/{token}", show, methods=["GET"]),
        Route("/s/{token}", submit_score, methods=["POST"]),
        Route("/s/{token}/comment", submit_comment, methods=["POST"]),
    ]
