"""The hosted pages: the survey (`/s/<token>`), its follow-up "why", and unsubscribing.

One-click links (`/s/<token>?score=N`) come from e-mails and help-desk replies. Mail security
scanners open every link of a message, so a GET never records anything: it shows the page with the
score chosen, and a tiny form posts it (at once where scripts run, by its visible button where they
do not). Only a POST records an answer. No external resources; every message is translated.

`/unsubscribe/<signed token>` works the same way: GET asks, POST (or the RFC 8058 one-click POST a
mail client sends for List-Unsubscribe-Post) records it.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from nps_bot.models import SCALES, Answer, SurveyRef
from nps_bot.surveys import i18n, unsubscribe
from nps_bot.surveys.service import MAX_COMMENT, SurveyError, SurveyNotFound, SurveyNotOpen, SurveyService
from nps_bot.surveys.wording import QUESTION_KEYS, SCALE_KEYS, followup_key, scale

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
    # Pages carry tokens in their forms: never cached by proxies, never sent on as a Referer.
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
    return HTMLResponse(
        f'<!doctype html><html lang="{html.escape(lang)}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>",
        status_code=status,
        headers=headers,
    )


def _message(lang: str, text: str, status: int) -> HTMLResponse:
    return _page(lang, text, f"<h1>{html.escape(text)}</h1>", status)


def request_language(request: Request) -> str:
    """The visitor's language from Accept-Language (its first tag), for pages with no survey to ask."""
    first = request.headers.get("accept-language", "").split(",")[0].split(";")[0]
    return i18n.negotiate(first)


def _whole_number(raw: object) -> int | None:
    text = str(raw or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 3 else None


def survey_page_routes(
    service: SurveyService, notify_answer: Callable[[Answer], None], company: str
) -> list[BaseRoute]:

    def scale_form(ref: SurveyRef, chosen: int | None) -> str:
        lang = ref.language
        buttons = "".join(
            f'<button name="score" value="{n}"{" class=chosen" if n == chosen else ""}>{n}</button>'
            for n in scale(ref.kind)
        )
        low_key, high_key = SCALE_KEYS[ref.kind]  # what each end of the scale means, for every kind
        legend = (
            f'<div class="legend"><span>{html.escape(i18n.t(lang, low_key))}</span>'
            f"<span>{html.escape(i18n.t(lang, high_key))}</span></div>"
        )
        question = i18n.t(lang, QUESTION_KEYS[ref.kind], company=company)
        return (
            f"<h1>{html.escape(question)}</h1>"
            f'<form method="post" action="/s/{html.escape(ref.token)}">'
            f'<div class="scale">{buttons}</div></form>{legend}'
        )

    def confirm_form(ref: SurveyRef, score: int) -> str:
        """The score a link chose, posted at once by the script; the button is there without scripts."""
        label = i18n.t(ref.language, "web.confirm_score", score=score)
        return (
            f'<form id="answer" method="post" action="/s/{html.escape(ref.token)}">'
            f'<input type="hidden" name="score" value="{score}">'
            f'<button class="send">{html.escape(label)}</button></form>'
            '<script>document.getElementById("answer").submit()</script>'
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

    def not_found(request: Request) -> HTMLResponse:
        lang = request_language(request)
        return _message(lang, i18n.t(lang, "web.not_found"), 404)

    def bad_score(ref: SurveyRef) -> HTMLResponse:
        low, high = SCALES[ref.kind]
        return _message(ref.language, i18n.t(ref.language, "web.bad_score", low=low, high=high), 400)

    def parse_score(ref: SurveyRef, raw: object) -> int | None:
        score = _whole_number(raw)
        low, high = SCALES[ref.kind]
        return score if score is not None and low <= score <= high else None

    async def find(request: Request) -> SurveyRef | None:
        try:
            return await run_in_threadpool(service.find, request.path_params["token"])
        except SurveyNotFound:
            return None

    async def show(request: Request) -> Response:
        """Never records: scanners fetch every link. A chosen score is posted by the page's own form."""
        ref = await find(request)
        if ref is None:
            return not_found(request)
        title = i18n.t(ref.language, "web.title", company=company)
        raw = request.query_params.get("score")
        if raw is None:
            return _page(ref.language, title, scale_form(ref, None))
        score = parse_score(ref, raw)
        if score is None:
            return bad_score(ref)
        return _page(ref.language, title, scale_form(ref, score) + confirm_form(ref, score))

    async def submit_score(request: Request) -> Response:
        ref = await find(request)
        if ref is None:
            return not_found(request)
        form = await request.form()
        score = parse_score(ref, form.get("score"))
        if score is None:
            return bad_score(ref)
        try:
            answer = await run_in_threadpool(service.record_score, ref.token, score, source="web")
        except SurveyError:
            return _message(ref.language, i18n.t(ref.language, "web.expired"), 409)
        await run_in_threadpool(notify_answer, answer)
        title = i18n.t(ref.language, "web.title", company=company)
        return _page(ref.language, title, scale_form(ref, score) + followup(answer))

    async def submit_comment(request: Request) -> Response:
        ref = await find(request)
        if ref is None:
            return not_found(request)
        form = await request.form()
        comment = str(form.get("comment", ""))
        lang = ref.language
        try:
            answer = await run_in_threadpool(service.record_comment, ref.token, comment)
        except SurveyNotOpen:
            return _message(lang, i18n.t(lang, "web.choose_score_first"), 409)
        except SurveyError:
            return _message(lang, i18n.t(lang, "web.expired"), 409)
        await run_in_threadpool(notify_answer, answer)
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


def unsubscribe_routes(service: SurveyService, company: str, secret: Callable[[], str]) -> list[BaseRoute]:
    """`/unsubscribe/<token>`: GET asks, POST records (the page's button, or RFC 8058 one-click)."""

    def language(request: Request) -> str:
        chosen = request.query_params.get("lang")
        return i18n.negotiate(chosen) if chosen else request_language(request)

    def invalid(lang: str) -> HTMLResponse:
        return _message(lang, i18n.t(lang, "web.unsubscribe_invalid"), 404)

    async def ask(request: Request) -> Response:
        lang = language(request)
        if unsubscribe.verify(secret(), request.path_params["token"]) is None:
            return invalid(lang)
        title = i18n.t(lang, "web.unsubscribe_title")
        question = i18n.t(lang, "web.unsubscribe_question", company=company)
        # An empty action posts back to this very URL (token and language included).
        body = (
            f"<h1>{html.escape(title)}</h1><p>{html.escape(question)}</p>"
            f'<form method="post"><button class="send">'
            f"{html.escape(i18n.t(lang, 'web.unsubscribe_button'))}</button></form>"
        )
        return _page(lang, title, body)

    async def confirm(request: Request) -> Response:
        lang = language(request)
        address = unsubscribe.verify(secret(), request.path_params["token"])
        if address is None:
            return invalid(lang)
        form = await request.form()
        source = "one-click" if form.get("List-Unsubscribe") == "One-Click" else "page"
        added = await run_in_threadpool(unsubscribe.unsubscribe, service, address, source=source)
        if added:
            log.info("an address unsubscribed from surveys (%s)", source)
        done = i18n.t(lang, "web.unsubscribed", company=company)
        return _page(
            lang, done, f"<h1>{html.escape(i18n.t(lang, 'web.unsubscribe_title'))}</h1><p>{html.escape(done)}</p>"
        )

    return [
        Route(f"{unsubscribe.PATH}{{token}}", ask, methods=["GET"]),
        Route(f"{unsubscribe.PATH}{{token}}", confirm, methods=["POST"]),
    ]
