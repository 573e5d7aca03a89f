"""Signed survey links for the help desk's own closing e-mail: `/l/<connector>/<ticket>?kind=&score=&sig=&email=`.

The help desk writes the e-mail; its template fills in the ticket id and the customer's address (and name)
from its own placeholders, so no webhook has to come first. `nps-bot template-link <connector>` prints the
links, one per score, each with a signature: an HMAC-SHA256 (truncated to 128 bits) with
`NPS_BOT_SECRET_KEY` over the parts the admin fixes (connector, kind, score, language).

Such a **per-template** signature cannot cover the ticket id or the address: they are only known when the
help desk sends the e-mail. So a customer who edits the link can put in another ticket id or address. What
that gets them, and what it does not:

* They can create an answer for a ticket id that has **no survey yet** (an invented or someone else's),
  answering as the address they typed. One answer per ticket and kind (the survey's unique key); later
  clicks only change that answer, as any survey link does.
* They cannot touch a ticket that already has a survey for **another** customer (the address must match
  the survey's customer), nor change the connector, kind, score or language of the link: those are
  signed, and an edited one is refused with nothing stored.
* New link surveys are capped per address (`NEW_PER_ADDRESS_PER_DAY`) and are marked
  `delivery_channel = "link"`, so they can be told apart in the database.

Where the sender can compute an HMAC itself (its own mailer, a script), a **per-ticket** signature
(`sig=p.…`, `ticket_link`) also covers the ticket id and the address: nothing in such a link can be edited.

Opening a link records no answer (mail scanners open every link). It finds or creates the survey for
(connector, ticket, kind) and redirects to the hosted page `/s/<token>?score=N`, which pre-selects the
score; only the page's POST records it. Creating the survey on that GET is idempotent (the same unique key
as webhooks) and creates no answer. A customer who clicks is already answering, so sampling, throttling
and unsubscribing do not block the link (its survey is never delivered, so nothing is sent to them); the
policy's exclusions (tags, internal domains) still do, as for webhooks.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import html
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

import sqlalchemy as sa
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from nps_bot.models import SCALES, Customer, Interaction, SurveyState
from nps_bot.reporting.rollups import tracked
from nps_bot.store.schema import customers, surveys
from nps_bot.surveys import i18n
from nps_bot.surveys.service import SurveyService
from nps_bot.surveys.unsubscribe import REASON as UNSUBSCRIBED

log = logging.getLogger(__name__)

__all__ = [
    "CHANNEL",
    "NEW_PER_ADDRESS_PER_DAY",
    "PATH",
    "Click",
    "Placeholders",
    "Refused",
    "html_snippet",
    "open_survey",
    "read_click",
    "template_link_routes",
    "template_links",
    "ticket_link",
]

PATH = "/l/"
CHANNEL = "link"  # surveys.delivery_channel of the surveys these links open
# New link surveys one address may open in a day: a brake on invented ticket ids, not a lock (see above).
NEW_PER_ADDRESS_PER_DAY = 10
_CONTEXT = b"nps-bot/template-link/v1\x00"  # domain separation from the unsubscribe links' HMAC
_CONNECTOR = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_UNFILLED = re.compile(r"[{}]")  # a placeholder the help desk did not replace: {$x}, {{x}}, {%x%}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # never in an id, an address or a name (PostgreSQL refuses NUL)
# Sampling, throttling and unsubscribing stop us *sending* a survey; a customer who clicks is answering.
_OPENABLE_REASONS = ("not sampled", "throttled", UNSUBSCRIBED)
_PARKED = timedelta(days=3650)  # a link survey is created this far in the future, so no worker sends it


@dataclass(frozen=True, slots=True)
class Placeholders:
    """How one help desk writes the ticket id, the customer's address and name in its e-mail templates."""

    ticket: str
    email: str
    name: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, str]) -> Placeholders:
        return cls(ticket=data["ticket"], email=data["email"], name=data.get("name"))


@dataclass(frozen=True, slots=True)
class Click:
    """A verified link: what the signature vouches for, plus what the help desk filled in."""

    connector: str
    ticket: str
    kind: str
    score: int
    email: str
    name: str | None
    language: str | None


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a link gets no survey: a message key for the customer's page and its HTTP status."""

    key: str
    status: int
    why: str  # for the log; never the address or the ticket id


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _mac(secret: str, *parts: str) -> str:
    message = _CONTEXT + "\x00".join(parts).encode()
    return _b64(hmac.new(secret.encode(), message, hashlib.sha256).digest()[:16])


def _template_sig(secret: str, connector: str, kind: str, score: int, language: str | None) -> str:
    return "t." + _mac(secret, "t", connector, kind, str(score), language or "")


def _ticket_sig(
    secret: str, connector: str, kind: str, score: int, language: str | None, ticket: str, email: str
) -> str:
    return "p." + _mac(secret, "p", connector, kind, str(score), language or "", ticket, email.strip().lower())


def _check(secret: str, connector: str, kind: str, language: str | None) -> None:
    if not secret:
        raise ValueError("NPS_BOT_SECRET_KEY is not set: survey links cannot be signed")
    if not _CONNECTOR.fullmatch(connector):
        raise ValueError(f"{connector!r} is not a connector name (lower-case letters, digits, - and _)")
    if kind not in SCALES:
        raise ValueError(f"kind must be one of {', '.join(SCALES)}, not {kind!r}")
    if language is not None and language not in i18n.SUPPORTED:
        raise ValueError(f"language must be one of {', '.join(i18n.SUPPORTED)}, not {language!r}")


def _fixed_query(kind: str, score: int, language: str | None, sig: str) -> str:
    lang = f"&lang={language}" if language else ""
    return f"kind={kind}&score={score}{lang}&sig={quote(sig, safe='.')}"


def template_links(
    public_url: str,
    secret: str,
    connector: str,
    placeholders: Placeholders,
    *,
    kind: str = "nps",
    language: str | None = None,
) -> list[tuple[int, str]]:
    """(score, link) for every score of the kind, with the help desk's placeholders left in, unescaped.

    The address comes after the signature and the name last: a name with `&` or `#` in it (the help desk
    does not escape it) then cuts off only itself."""
    _check(secret, connector, kind, language)
    base = f"{public_url.rstrip('/')}{PATH}{connector}/{placeholders.ticket}"
    name = f"&name={placeholders.name}" if placeholders.name else ""
    low, high = SCALES[kind]
    links = []
    for score in range(low, high + 1):
        fixed = _fixed_query(kind, score, language, _template_sig(secret, connector, kind, score, language))
        links.append((score, f"{base}?{fixed}&email={placeholders.email}{name}"))
    return links


def ticket_link(
    public_url: str,
    secret: str,
    connector: str,
    ticket: str,
    email: str,
    score: int,
    *,
    kind: str = "nps",
    language: str | None = None,
    name: str | None = None,
) -> str:
    """A link signed for one ticket and address (for senders that can compute an HMAC): nothing in it can
    be edited."""
    _check(secret, connector, kind, language)
    sig = _ticket_sig(secret, connector, kind, score, language, ticket, email)
    query = _fixed_query(kind, score, language, sig) + f"&email={quote(email.strip().lower(), safe='@')}"
    if name:
        query += f"&name={quote(name)}"
    return f"{public_url.rstrip('/')}{PATH}{connector}/{quote(ticket, safe='')}?{query}"


def html_snippet(links: Sequence[tuple[int, str]], question: str, low_label: str, high_label: str) -> str:
    """The links as a row of buttons for an HTML e-mail: inline styles only (mail clients drop <style>),
    a table for the row (Outlook ignores flexbox). Placeholders stay as they are; `&` is written `&amp;`."""
    cell = (
        '<td style="padding:2px"><a href="{href}" style="display:inline-block;min-width:28px;padding:8px 6px;'
        "border:1px solid #1264a3;border-radius:4px;color:#1264a3;text-decoration:none;text-align:center;"
        'font:bold 15px Arial,sans-serif">{score}</a></td>'
    )
    cells = "\n".join(cell.format(href=link.replace("&", "&amp;"), score=score) for score, link in links)
    return (
        f'<p style="font:15px Arial,sans-serif">{html.escape(question)}</p>\n'
        f'<table role="presentation" cellspacing="0" cellpadding="0"><tr>\n{cells}\n</tr></table>\n'
        f'<table role="presentation" width="100%" style="max-width:{40 * len(links)}px;font:12px Arial,sans-serif;'
        f'color:#616061"><tr><td>{html.escape(low_label)}</td>'
        f'<td style="text-align:right">{html.escape(high_label)}</td></tr></table>\n'
    )


def _whole_number(raw: str | None) -> int | None:
    text = (raw or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 3 else None


def read_click(
    secrets: Sequence[str], connector: str, ticket: str, query: Mapping[str, str], browser_language: str | None
) -> Click | Refused:
    """Check a link's signature (with the current key or an earlier one still accepted) and its fields;
    nothing is stored either way."""
    keys = [k for k in secrets if k]
    kind = query.get("kind", "")
    score = _whole_number(query.get("score"))
    if not keys or not _CONNECTOR.fullmatch(connector) or kind not in SCALES or score is None:
        return Refused("web.not_found", 404, "malformed link")
    low, high = SCALES[kind]
    if not low <= score <= high:
        return Refused("web.not_found", 404, "score off the scale")
    language = query.get("lang") or None
    if language is not None and language not in i18n.SUPPORTED:
        return Refused("web.not_found", 404, "unknown language")
    # A help desk that does not URL-encode the address leaves its "+" to be read as a space.
    email = query.get("email", "").strip().replace(" ", "+").lower()
    sig = query.get("sig", "")
    if sig.startswith("t."):
        expected = [_template_sig(key, connector, kind, score, language) for key in keys]
    elif sig.startswith("p."):
        expected = [_ticket_sig(key, connector, kind, score, language, ticket, email) for key in keys]
    else:
        return Refused("web.not_found", 403, "unsigned link")
    if not any(hmac.compare_digest(sig.encode(), e.encode()) for e in expected):
        return Refused("web.not_found", 403, "bad signature (an edited link, or another secret key)")
    if not ticket or len(ticket) > 255 or _UNFILLED.search(ticket) or _CONTROL.search(ticket):
        return Refused("web.not_found", 400, "the help desk did not fill in the ticket id")
    if not 3 <= len(email) <= 320 or "@" not in email or re.search(r"[\s\x00-\x1f\x7f{}]", email):
        return Refused("web.not_found", 400, "the help desk did not fill in the address")
    name = _CONTROL.sub("", query.get("name", "")).strip()[:255] or None
    if name and _UNFILLED.search(name):
        name = None  # a name is nice to have: an unfilled one is dropped, not refused
    if language is None:
        language = browser_language  # already a supported code (i18n.accepted), or None
    return Click(connector, ticket, kind, score, email, name, language)


def _find(conn: sa.Connection, click: Click) -> sa.Row | None:
    return conn.execute(
        sa.select(surveys.c.id, surveys.c.token, surveys.c.state, surveys.c.reason, customers.c.email)
        .select_from(surveys.outerjoin(customers, customers.c.id == surveys.c.customer_id))
        .where(
            surveys.c.connector == click.connector, surveys.c.ticket_id == click.ticket, surveys.c.kind == click.kind
        )
    ).first()


def _openable(state: SurveyState, reason: str | None) -> bool:
    """May a click turn this survey into one sent by link? (It is then never delivered by a channel.)"""
    if state in (SurveyState.SCHEDULED, SurveyState.ON_HOLD, SurveyState.FAILED, SurveyState.UNDELIVERABLE):
        return True
    return state is SurveyState.SUPPRESSED and (reason or "").startswith(_OPENABLE_REASONS)


def _new_today(conn: sa.Connection, customer_key: str, now: datetime) -> int:
    return conn.execute(
        sa.select(sa.func.count())
        .select_from(surveys)
        .where(
            surveys.c.customer_key == customer_key,
            surveys.c.created_at >= now - timedelta(days=1),
            surveys.c.delivery_channel == CHANNEL,
        )
    ).scalar_one()


def open_survey(service: SurveyService, click: Click) -> str | Refused:
    """The token of the survey this click answers, created if the ticket has none; never an answer."""
    try:
        interaction = Interaction(
            connector=click.connector,
            event_id=f"link:{click.kind}:{click.ticket}"[:255],
            ticket_id=click.ticket,
            kind=click.kind,  # type: ignore[arg-type]  # checked against SCALES in read_click
            customer=Customer(email=click.email, name=click.name, language=click.language),
        )
    except ValidationError:
        return Refused("web.not_found", 400, "a filled-in value the survey cannot take")
    now = service.clock.now()
    with service.engine.connect() as conn:
        row = _find(conn, click)
        if row is None:
            if service.policy.exclusion(interaction):  # a colleague's address: refused, as for webhooks
                return Refused("web.expired", 409, "excluded by policy")
            key = interaction.customer.key(click.connector)
            if key and _new_today(conn, key, now) >= NEW_PER_ADDRESS_PER_DAY:
                return Refused("web.expired", 429, "too many new link surveys for one address today")
    if row is None:
        # SurveyService.schedule keeps the unique keys, the customer record and the unsubscribe check; no
        # sampling or throttling, and parked far ahead so no worker claims it before it is opened below.
        policy = dataclasses.replace(service.policy, sample_rate=1.0, throttle=timedelta(0), delay=_PARKED)
        SurveyService(service.engine, policy, service.clock, service.default_language).schedule(interaction)
    for _ in range(3):  # a worker or a second click may change the row between our read and our write
        with service.engine.begin() as conn:
            row = _find(conn, click)
            if row is None:
                return Refused("web.not_found", 404, "survey vanished")
            if row.email != click.email:
                return Refused("web.not_found", 404, "the ticket's survey belongs to another customer")
            state = SurveyState(row.state)
            if not _openable(state, row.reason):
                if state is SurveyState.SUPPRESSED:
                    return Refused("web.expired", 409, "survey suppressed by policy")
                return str(row.token)
            with tracked(conn, [row.id]):  # now sent: the response-rate rollups count it
                opened = conn.execute(
                    surveys.update()
                    .where(surveys.c.id == row.id, surveys.c.state == state)
                    .values(
                        state=SurveyState.SENT,
                        reason=None,
                        delivery_channel=CHANNEL,
                        delivery_ref=None,
                        sent_at=sa.func.coalesce(surveys.c.sent_at, now),
                        due_at=now,
                        expires_at=now + service.policy.expiry,
                        updated_at=now,
                    )
                ).rowcount
            if opened:
                return str(row.token)
    return Refused("web.expired", 409, "survey kept changing")


def template_link_routes(
    service: SurveyService,
    keys: Callable[[], Sequence[str]],
    message: Callable[[str, str, int], Response],
) -> list[BaseRoute]:
    """`GET /l/<connector>/<ticket>`: a redirect to the survey page, or `message(lang, text, status)`."""

    async def follow(request: Request) -> Response:
        first = i18n.accepted(request.headers.get("accept-language"))
        connector, ticket = request.path_params["connector"], request.path_params["ticket"]
        click = read_click(keys(), connector, ticket, request.query_params, first)
        outcome = await run_in_threadpool(open_survey, service, click) if isinstance(click, Click) else click
        if isinstance(outcome, Refused):
            log.info("survey link refused (%d): %s", outcome.status, outcome.why)
            lang = i18n.negotiate(first or request.query_params.get("lang"))  # the reader's browser first
            return message(lang, i18n.t(lang, outcome.key), outcome.status)
        assert isinstance(click, Click)
        headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
        return RedirectResponse(f"/s/{quote(outcome, safe='')}?score={click.score}", status_code=303, headers=headers)

    return [Route(f"{PATH}{{connector}}/{{ticket}}", follow, methods=["GET"])]
