"""The hosted pages: the survey (`/s/<token>`), its follow-up "why", and unsubscribing.

One-click links (`/s/<token>?score=N`) come from e-mails and help-desk replies. Mail security
scanners open every link of a message, so a GET never records anything: it shows the page with the
score chosen, and a tiny form posts it (at once where scripts run, by its visible button where they
do not). Only a POST records an answer. No external resources but the company's optional logo
(`page_theme`: the styles, the branding and the Content-Security-Policy); every message is translated.

The scale is a labelled group of submit buttons (the question is its legend), so a click or Enter
answers with or without scripts; the chosen one has `aria-pressed` and is named in text, not only
coloured. The anchors ("0 = Not at all likely") sit under the end buttons at every width.

`/unsubscribe/<signed token>` works the same way: GET asks, POST (or the RFC 8058 one-click POST a
mail client sends for List-Unsubscribe-Post) records it.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable, Sequence

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from nps_bot.models import SCALES, Answer, SurveyRef
from nps_bot.surveys import i18n, unsubscribe
from nps_bot.surveys.page_theme import AUTO_SUBMIT_SCRIPT, PageTheme
from nps_bot.surveys.service import MAX_COMMENT, SurveyError, SurveyNotFound, SurveyNotOpen, SurveyService
from nps_bot.surveys.wording import QUESTION_KEYS, SCALE_KEYS, followup_key, scale

log = logging.getLogger(__name__)


def _page(theme: PageTheme, company: str, lang: str, title: str, body: str, status: int = 200) -> HTMLResponse:
    logo = theme.logo(company)
    return HTMLResponse(
        f'<!doctype html><html lang="{html.escape(lang)}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title>'
        f"<style>{theme.css}</style></head><body>"
        f"{f'<header>{logo}</header>' if logo else ''}<main>{body}</main></body></html>",
        status_code=status,
        headers=dict(theme.headers),
    )


def message_page(theme: PageTheme, company: str, lang: str, text: str, status: int) -> HTMLResponse:
    return _page(theme, company, lang, text, f"<h1>{html.escape(text)}</h1>", status)


def one_route(path: str, **by_method: Callable[[Request], Awaitable[Response]]) -> Route:
    """One route for every method of a path. With one route per method, Starlette answers another method
    with a 405 whose `Allow` names only the first route's methods (RFC 9110 wants all of them)."""

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method  # Starlette adds HEAD to GET routes
        return await by_method[method](request)

    return Route(path, dispatch, methods=list(by_method))


def request_language(request: Request) -> str:
    """The visitor's language from Accept-Language, for pages with no survey to ask."""
    return i18n.accepted(request.headers.get("accept-language")) or i18n.DEFAULT


def _whole_number(raw: object) -> int | None:
    text = str(raw or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 3 else None


def survey_page_routes(
    service: SurveyService,
    notify_answer: Callable[[Answer], None],
    company: str,
    theme: PageTheme | None = None,
) -> list[BaseRoute]:
    look = theme or PageTheme()

    def page(lang: str, title: str, body: str, status: int = 200) -> HTMLResponse:
        return _page(look, company, lang, title, body, status)

    def message(lang: str, text: str, status: int) -> HTMLResponse:
        return message_page(look, company, lang, text, status)

    def scale_form(ref: SurveyRef, chosen: int | None) -> str:
        lang = ref.language
        numbers = scale(ref.kind)
        ends = {numbers[0]: "scale-low", numbers[-1]: "scale-high"}

        def button(n: int) -> str:
            # The end buttons are described by their anchors, for readers that jump between buttons.
            described = f' aria-describedby="{ends[n]}"' if n in ends else ""
            pressed = "true" if n == chosen else "false"
            return f'<button name="score" value="{n}" aria-pressed="{pressed}"{described}>{n}</button>'

        low_key, high_key = SCALE_KEYS[ref.kind]  # what each end of the scale means, for every kind
        anchors = (
            f'<span class="low" id="scale-low">{html.escape(i18n.t(lang, low_key))}</span>'
            f'<span class="high" id="scale-high">{html.escape(i18n.t(lang, high_key))}</span>'
        )
        question = i18n.t(lang, QUESTION_KEYS[ref.kind], company=company)
        return (
            f'<form method="post" action="/s/{html.escape(ref.token)}"><fieldset>'
            f"<legend><h1>{html.escape(question)}</h1></legend>"
            f'<div class="scale scale-{len(numbers)}">{"".join(button(n) for n in numbers)}{anchors}</div>'
            "</fieldset></form>"
        )

    def confirm_form(ref: SurveyRef, score: int) -> str:
        """The score a link chose, posted at once by the script; the button is there without scripts."""
        label = i18n.t(ref.language, "web.confirm_score", score=score)
        return (
            f'<form id="answer" method="post" action="/s/{html.escape(ref.token)}">'
            f'<input type="hidden" name="score" value="{score}">'
            f'<button class="send">{html.escape(label)}</button></form>'
            f"<script>{AUTO_SUBMIT_SCRIPT}</script>"
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
        return message(lang, i18n.t(lang, "web.not_found"), 404)

    def bad_score(ref: SurveyRef) -> HTMLResponse:
        low, high = SCALES[ref.kind]
        return message(ref.language, i18n.t(ref.language, "web.bad_score", low=low, high=high), 400)

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
            return page(ref.language, title, scale_form(ref, None))
        score = parse_score(ref, raw)
        if score is None:
            return bad_score(ref)
        return page(ref.language, title, scale_form(ref, score) + confirm_form(ref, score))

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
            return message(ref.language, i18n.t(ref.language, "web.expired"), 409)
        await run_in_threadpool(notify_answer, answer)
        title = i18n.t(ref.language, "web.title", company=company)
        return page(ref.language, title, scale_form(ref, score) + followup(answer))

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
            return message(lang, i18n.t(lang, "web.choose_score_first"), 409)
        except SurveyError:
            return message(lang, i18n.t(lang, "web.expired"), 409)
        await run_in_threadpool(notify_answer, answer)
        msg = i18n.t(lang, "comment.thanks")
        return page(
            lang,
            i18n.t(lang, "web.thanks"),
            f"<h1>{html.escape(i18n.t(lang, 'web.thanks'))}</h1><p>{html.escape(msg)}</p>",
        )

    return [
        one_route("/s/{token}", GET=show, POST=submit_score),
        Route("/s/{token}/comment", submit_comment, methods=["POST"]),
    ]


def unsubscribe_routes(
    service: SurveyService, company: str, keys: Callable[[], Sequence[str]], theme: PageTheme | None = None
) -> list[BaseRoute]:
    """`/unsubscribe/<token>`: GET asks, POST records (the page's button, or RFC 8058 one-click)."""
    look = theme or PageTheme()

    def language(request: Request) -> str:
        chosen = request.query_params.get("lang")
        return i18n.negotiate(chosen) if chosen else request_language(request)

    def invalid(lang: str) -> HTMLResponse:
        return message_page(look, company, lang, i18n.t(lang, "web.unsubscribe_invalid"), 404)

    async def ask(request: Request) -> Response:
        lang = language(request)
        if unsubscribe.verify(keys(), request.path_params["token"]) is None:
            return invalid(lang)
        title = i18n.t(lang, "web.unsubscribe_title")
        question = i18n.t(lang, "web.unsubscribe_question", company=company)
        # An empty action posts back to this very URL (token and language included).
        body = (
            f"<h1>{html.escape(title)}</h1><p>{html.escape(question)}</p>"
            f'<form method="post"><button class="send">'
            f"{html.escape(i18n.t(lang, 'web.unsubscribe_button'))}</button></form>"
        )
        return _page(look, company, lang, title, body)

    async def confirm(request: Request) -> Response:
        lang = language(request)
        address = unsubscribe.verify(keys(), request.path_params["token"])
        if address is None:
            return invalid(lang)
        form = await request.form()
        source = "one-click" if form.get("List-Unsubscribe") == "One-Click" else "page"
        added = await run_in_threadpool(unsubscribe.unsubscribe, service, address, source=source)
        if added:
            log.info("an address unsubscribed from surveys (%s)", source)
        done = i18n.t(lang, "web.unsubscribed", company=company)
        title = i18n.t(lang, "web.unsubscribe_title")
        return _page(look, company, lang, done, f"<h1>{html.escape(title)}</h1><p>{html.escape(done)}</p>")

    return [one_route(f"{unsubscribe.PATH}{{token}}", GET=ask, POST=confirm)]
