"""nps-bot: NPS, CSAT and CES surveys after every support conversation, answered and reported in Slack.

Subcommands: serve | worker | migrate | demo | try | digest --print | import | forget | rollups | config |
template-link.
Settings come from NPS_BOT_* environment variables or a .env file (see README.md; `nps-bot config` shows
what is in effect)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nps_bot import logs
from nps_bot.reporting.periods import PERIOD_HELP

if TYPE_CHECKING:
    from pydantic import ValidationError

    from nps_bot.config import Settings

log = logging.getLogger("nps_bot")
# Each subcommand imports what it needs inside its function: `nps-bot migrate` should not pay for
# uvicorn, Bolt and matplotlib. (No import here dodges a cycle; lint-imports checks the layers.)


def cmd_serve(settings: Settings, _: argparse.Namespace) -> int:
    import uvicorn

    from nps_bot.app import AppContext
    from nps_bot.web import create_app

    ctx = AppContext.build(settings)
    from nps_bot.plugin.ports import ProvidesPreflight, StartupError

    try:  # a token that can never work stops here with one line, before anything listens
        for plugin in ctx.integrations.values():
            if isinstance(plugin, ProvidesPreflight):
                plugin.preflight()
    except StartupError as exc:
        print(f"nps-bot serve: {exc}", file=sys.stderr)
        return 1
    log.info(
        "nps-bot listening on http://%s:%d (database %s); survey links point at %s",
        settings.host,
        settings.port,
        _safe_url(settings.database_url),
        settings.public_url,
    )
    uvicorn.run(
        create_app(ctx, freeze_after_start=True),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,
    )
    return 0


def cmd_worker(settings: Settings, _: argparse.Namespace) -> int:
    from nps_bot.app import AppContext
    from nps_bot.delivery.worker import Worker

    ctx = AppContext.build(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    Worker(ctx).run_forever(stop)
    return 0


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    from nps_bot.store import create_engine_for, migrate
    from nps_bot.store.engine import current_revision

    engine = create_engine_for(settings.database_url)
    before = current_revision(engine)
    migrate(engine)
    after = current_revision(engine)
    where = _safe_url(settings.database_url)
    if before == after:
        print(f"database {where} is up to date (schema {after})")
    else:
        print(f"database {where} migrated from schema {before or 'none (new database)'} to {after}; up to date")
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    import shlex

    from nps_bot.demo import run_demo

    if not args.verbose:  # the story only; -v shows the service's log as it plays
        logs.setup("WARNING")
    print(run_demo(tickets=args.tickets, seed=args.seed, database_url=args.database))
    if args.database:
        env = f"NPS_BOT_DATABASE_URL={shlex.quote(args.database)}"
        print(f"\nThe tickets and answers are kept in {_safe_url(args.database)}. Try next, on the same data:")
    else:
        env = "NPS_BOT_DATABASE_URL=sqlite:///demo.db"
        print("\nThat database was temporary: `nps-bot demo --database sqlite:///demo.db` keeps it. Then try:")
    print(f"  # the channel digest, in the terminal\n  {env} nps-bot digest --print --period 30d")
    print(f"  # the service on that data (README: Try it locally)\n  {env} nps-bot serve")
    print("  # every setting and where it came from\n  nps-bot config")
    return 0


def cmd_try(settings: Settings, args: argparse.Namespace) -> int:
    """Sign a ticket close with the generic webhook secret and post it to a running server."""
    import json
    import time
    import uuid

    import httpx

    from nps_bot.plugin import signing

    if "@" not in args.email:
        print(f"nps-bot try: {args.email!r} is not an e-mail address", file=sys.stderr)
        return 2
    low, high = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}[args.survey]
    if args.score is not None and not low <= args.score <= high:
        print(f"nps-bot try: a {args.survey.upper()} score is {low}-{high}, not {args.score}", file=sys.stderr)
        return 2
    secret = _generic_secret()
    if not secret:
        print("nps-bot try: NPS_BOT_GENERIC_SECRET is not set; set it (the same value) for `nps-bot serve` and here",
              file=sys.stderr)  # fmt: skip
        return 2
    base = (args.url or _local_url(settings)).rstrip("/")
    stamp = uuid.uuid4().hex[:8]
    body = {
        "event": "ticket.closed",
        "id": f"try-{stamp}",
        "survey": args.survey,
        "ticket": {"id": f"TRY-{stamp}", "subject": "nps-bot try", "channel": "email", "team": "Try"},
        "customer": {"email": args.email, "name": args.email.split("@")[0]},
        "agent": {"id": "try", "name": "nps-bot try"},
    }
    raw = json.dumps(body).encode()
    headers = {signing.HEADER: signing.sign(secret, raw, int(time.time())), "content-type": "application/json"}
    deadline = time.monotonic() + args.wait
    while True:  # `nps-bot serve &` then `nps-bot try` at once: give the server a moment to come up
        try:
            response = httpx.post(f"{base}/webhooks/generic", content=raw, headers=headers, timeout=10)
            break
        except httpx.TransportError as exc:
            if time.monotonic() >= deadline:
                print(f"nps-bot try: nothing answers at {base} ({type(exc).__name__}); is `nps-bot serve` running "
                      "there? (--url or NPS_BOT_HOST / NPS_BOT_PORT say where)", file=sys.stderr)  # fmt: skip
                return 1
            time.sleep(0.25)
    try:
        data = response.json()
    except ValueError:
        data = {}
    if response.status_code == 401:
        print(f"nps-bot try: {base} refused the signature ({data.get('error', 'unauthorized')}): `serve` and `try` "
              "need the same NPS_BOT_GENERIC_SECRET", file=sys.stderr)  # fmt: skip
        return 1
    if response.status_code != 202:
        print(f"nps-bot try: {base} answered {response.status_code}: {response.text[:300]}", file=sys.stderr)
        return 1
    print(f"posted ticket TRY-{stamp} closed for {args.email} to {base}/webhooks/generic: {data.get('status')}")
    patience = max(args.wait, 5)  # a worker schedules the queue every 2 s by default
    scheduled = _schedule_outcome(settings, f"try-{stamp}", time.monotonic() + patience)
    if scheduled is None:
        print("the server's worker schedules it; its log shows the survey link when it is sent")
        return 0
    if scheduled.status == "queued":
        print(f"nps-bot try: ticket TRY-{stamp} is stored but still queued after {patience:g} s: is a worker "
              "running? (`nps-bot worker`, or `serve` with NPS_BOT_EMBEDDED_WORKER=true, the default)",
              file=sys.stderr)  # fmt: skip
        return 1
    status, survey_id, reason, due = scheduled.status, scheduled.survey_id, scheduled.reason, scheduled.due
    print(f"ticket TRY-{stamp}: {status}" + (f" ({reason})" if reason else ""))
    if status != "scheduled" or survey_id is None or due is None:
        if str(reason or "").startswith("throttled"):
            print("this customer had a survey recently: use another --email, or NPS_BOT_THROTTLE_DAYS=0 on the server")
        return 1 if status == "suppressed" else 0
    wait = (due - datetime.now(due.tzinfo)).total_seconds()
    if wait > 5:
        print(f"survey {survey_id} is due at {due:%Y-%m-%d %H:%M:%S %Z} (the server's NPS_BOT_SURVEY_DELAY); "
              "start `serve` with NPS_BOT_SURVEY_DELAY=0 to see it at once")  # fmt: skip
    else:
        print(f"survey {survey_id} is due now: the delivery worker sends it within a few seconds.")
    if args.score is not None:
        return _answer(settings, base, survey_id, args.score, time.monotonic() + max(args.wait, 5) + max(wait, 0))
    print("Without Slack, the console channel delivers it: the `serve` log shows a line like\n"
          f"  [console] would send {args.survey.upper()} survey {survey_id} (ticket generic/TRY-{stamp}, …): "
          f"<survey link>/s/<token>\nopen that link to answer as the customer.")  # fmt: skip
    return 0


def _poll(settings: Settings, query: Any, ready: Callable[[Any], bool], deadline: float) -> Any:
    """`try`: run `query` on the server's database every 0.2 s until `ready(row)` or the deadline;
    the last row (None: no row)."""
    import time

    from nps_bot.store import create_engine_for

    engine = create_engine_for(settings.database_url)
    try:
        while True:
            with engine.connect() as conn:
                row = conn.execute(query).first()
            if ready(row) or time.monotonic() > deadline:
                return row
            time.sleep(0.2)
    finally:
        engine.dispose()


@dataclass(frozen=True, slots=True)
class _Scheduled:
    """`try`: what the server's worker made of the webhook ("queued": no worker scheduled it in time)."""

    status: str
    survey_id: int | None = None
    reason: str | None = None
    due: datetime | None = None


def _schedule_outcome(settings: Settings, event_id: str, deadline: float) -> _Scheduled | None:
    """`try`: what the server's worker made of the queued webhook, read from its database; None when
    that database is not reachable from here."""
    import sqlalchemy as sa

    from nps_bot.store.schema import surveys, webhook_events

    url = sa.make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        return None  # not in the server's directory: opening the path would create an empty database
    query = (
        sa.select(webhook_events.c.outcome, surveys.c.id, surveys.c.reason, surveys.c.due_at)
        .select_from(webhook_events.outerjoin(surveys, surveys.c.id == webhook_events.c.survey_id))
        .where(webhook_events.c.connector == "generic", webhook_events.c.event_id == event_id)
    )
    try:
        row = _poll(settings, query, lambda r: r is not None and r.outcome != "pending", deadline)
    except sa.exc.SQLAlchemyError:  # not the server's database (another directory, no access)
        return None
    if row is None or row.outcome == "pending":
        return _Scheduled("queued")
    return _Scheduled(row.outcome, row.id, row.reason, row.due_at)


def _answer(settings: Settings, base: str, survey_id: int, score: int, deadline: float) -> int:
    """`try --score N`: wait for the survey to be sent, then answer it on the hosted page."""
    import httpx
    import sqlalchemy as sa

    from nps_bot.store.schema import surveys

    query = sa.select(surveys.c.state, surveys.c.token).where(surveys.c.id == survey_id)
    row = _poll(settings, query, lambda r: r is None or r.state not in ("scheduled", "sending"), deadline)
    if row is None:
        where = _safe_url(settings.database_url)
        print(f"nps-bot try: survey {survey_id} is not in {where}; run `try` with the server's "
              "NPS_BOT_DATABASE_URL (and in its directory for SQLite)", file=sys.stderr)  # fmt: skip
        return 1
    if row.state in ("scheduled", "sending"):
        print(f"nps-bot try: survey {survey_id} is still {row.state}; is the server's worker running?",
              file=sys.stderr)  # fmt: skip
        return 1
    if row.state != "sent":
        print(f"nps-bot try: survey {survey_id} is {row.state}, not waiting for an answer", file=sys.stderr)
        return 1
    link = f"{base}/s/{row.token}"
    response = httpx.post(link, data={"score": score}, timeout=10)
    if response.status_code != 200:
        print(f"nps-bot try: answering {score} got {response.status_code} from the survey page", file=sys.stderr)
        return 1
    print(f"answered {score} on the survey page, as the customer would: {link}")
    print("see it counted: nps-bot digest --print   (same NPS_BOT_DATABASE_URL)")
    return 0


def _generic_secret() -> str | None:
    """The first NPS_BOT_GENERIC_SECRET, read the way the generic connector reads it (env or .env)."""
    from nps_bot.settings_doc import sources

    for source in sources():
        if source.owner == "generic" and "secret" in source.cls.model_fields:
            secrets = source.cls().secret  # type: ignore[attr-defined]
            return str(secrets[0]) if secrets else None
    return None


def _local_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"


def cmd_config(settings: Settings, args: argparse.Namespace) -> int:
    from nps_bot.settings_doc import effective

    listed, errors = effective(everything=args.all)
    width = max((len(r.setting.name) for _, rows in listed for r in rows), default=20) + 2
    for label, rows in listed:
        print(f"{label}:")
        for r in rows:
            value = r.value or (f"({r.setting.shown_default})" if r.setting.shown_default else "(unset)")
            print(f"  {r.setting.name:<{width}}{value:<40} {r.origin}")
    for error in errors:
        print(f"invalid: {error}", file=sys.stderr)
    if not args.all:
        print("\n(secrets show as ****; other integrations' settings are listed when set: --all lists every one)")
    return 1 if errors else 0


def cmd_digest(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from nps_bot.app import AppContext
    from nps_bot.followups.digests import build_digest, render_text
    from nps_bot.reporting.periods import parse_period

    ctx = AppContext.build(settings, load_integrations=False)
    now = ctx.clock.now()
    try:
        period = parse_period(args.period, now)
    except ValueError as exc:
        print(exc)
        return 2
    digest = build_digest(ctx, None, now, period=period, dimension=args.by)
    print(render_text(digest))
    if args.chart:
        Path(args.chart).write_bytes(digest.chart_png())
        print(f"\ntrend chart written to {args.chart}")
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC

    from nps_bot.app import AppContext
    from nps_bot.plugin.ports import Importer

    ctx = AppContext.build(settings)
    importer = ctx.integrations.get(args.source)
    if not isinstance(importer, Importer):
        names = sorted(n for n, p in ctx.integrations.items() if isinstance(p, Importer))
        print(f"no importer named {args.source!r}; available: {', '.join(names) or 'none'}")
        return 2
    since = args.since.replace(tzinfo=UTC)
    until = args.until.replace(tzinfo=UTC) if args.until else None
    try:
        count = importer.run_import(since, until)
    except Exception as exc:  # a vendor outage or bad key: say so in one line, not a traceback
        log.debug("import failed", exc_info=True)
        print(f"import from {args.source} failed: {exc}")
        return 1
    print(f"imported {count} answers from {args.source}")
    return 0


def cmd_forget(settings: Settings, args: argparse.Namespace) -> int:
    from nps_bot.clock import SystemClock
    from nps_bot.store import create_engine_for, migrate
    from nps_bot.surveys.privacy import forget

    if "@" not in args.email:
        print(f"nps-bot forget: {args.email!r} is not an e-mail address", file=sys.stderr)
        return 2
    engine = create_engine_for(settings.database_url)
    migrate(engine)
    erased = forget(engine, args.email, SystemClock().now(), actor="command line")
    print(f"erased: {erased}")
    return 0


def cmd_rollups(settings: Settings, args: argparse.Namespace) -> int:
    """`rollups rebuild`: recompute the report rollups from the raw rows, in one transaction."""
    import time

    from nps_bot.reporting.rollups import rebuild
    from nps_bot.store import create_engine_for, migrate

    engine = create_engine_for(settings.database_url)
    migrate(engine)
    started = time.perf_counter()
    with engine.begin() as conn:
        rows = rebuild(conn)
    print(f"rollups rebuilt: {rows} rows in {time.perf_counter() - started:.1f}s")
    return 0


def cmd_intake(settings: Settings, args: argparse.Namespace) -> int:
    """Webhooks stored but not yet scheduled: how many wait, which failed; `drain` schedules them
    now, `retry` puts failed ones back in the queue (after the fix they waited for)."""
    from nps_bot.app import AppContext
    from nps_bot.surveys.intake import WebhookIntake

    ctx = AppContext.build(settings, load_integrations=False)
    intake = WebhookIntake(ctx.surveys)
    if args.action == "drain":
        outcomes = Counter(s.outcome.status for s in intake.drain_for())
        print(
            "scheduled the queued webhooks: " + (", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())) or "none")
        )
    elif args.action == "retry":
        print(f"{intake.retry_failed()} failed webhooks back in the queue; a worker schedules them")
    status = intake.status()
    print(f"waiting: {status.pending}, failed: {status.failed}")
    for error, n in sorted(status.errors.items()):
        print(f"  {n} failed with {error}")
    return 0


PLACEHOLDER_GROUP = "nps_bot.template_placeholders"  # help desks' placeholder syntax, from the integrations


def cmd_template_link(settings: Settings, args: argparse.Namespace) -> int:
    """The survey links (an HTML row of buttons) to paste into a help desk's closing e-mail template."""
    import functools
    from importlib.metadata import entry_points

    from nps_bot.surveys import i18n
    from nps_bot.surveys.template_link import Placeholders, html_snippet, template_links, ticket_link
    from nps_bot.surveys.wording import QUESTION_KEYS, SCALE_KEYS

    secret = settings.secret_key.get_secret_value()
    if not secret:
        print("nps-bot template-link: set NPS_BOT_SECRET_KEY (the server's own) to sign the links", file=sys.stderr)
        return 2
    if settings.public_url.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")):
        print(f"nps-bot template-link: the links point at {settings.public_url}; set NPS_BOT_PUBLIC_URL to the "
              "address customers reach", file=sys.stderr)  # fmt: skip
    if args.ticket and not args.email:
        print("nps-bot template-link: --ticket needs --email (the customer's address)", file=sys.stderr)
        return 2
    known = {ep.name: ep for ep in entry_points(group=PLACEHOLDER_GROUP)}
    try:
        if args.ticket:  # one ticket, signed whole: for senders that cannot fill placeholders
            low, high = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}[args.kind]
            url, connector, ticket, email = settings.public_url, args.connector, args.ticket, args.email or ""
            sign = functools.partial(ticket_link, url, secret, connector, ticket, email, kind=args.kind)
            links = [(n, sign(n, language=args.language)) for n in range(low, high + 1)]
        else:
            if args.ticket_placeholder and args.email_placeholder:
                placeholders = Placeholders(args.ticket_placeholder, args.email_placeholder, args.name_placeholder)
            elif args.connector in known:
                placeholders = Placeholders.from_mapping(known[args.connector].load())
            else:
                print(f"nps-bot template-link: no placeholders known for {args.connector!r} (known: "
                      f"{', '.join(sorted(known)) or 'none'}); give --ticket-placeholder and --email-placeholder",
                      file=sys.stderr)  # fmt: skip
                return 2
            links = template_links(
                settings.public_url, secret, args.connector, placeholders, kind=args.kind, language=args.language
            )
    except ValueError as exc:
        print(f"nps-bot template-link: {exc}", file=sys.stderr)
        return 2
    if args.text:
        print("\n".join(f"{score}\t{link}" for score, link in links))
        return 0
    lang = args.language or i18n.negotiate(settings.default_language)
    low_key, high_key = SCALE_KEYS[args.kind]
    question = i18n.t(lang, QUESTION_KEYS[args.kind], company=settings.company_name)
    print(html_snippet(links, question, i18n.t(lang, low_key), i18n.t(lang, high_key)), end="")
    return 0


def _date(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-01-31") from None


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nps-bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="web server with the embedded worker (NPS_BOT_EMBEDDED_WORKER=false to split)")
    sub.add_parser("worker", help="delivery worker only (run as many as you like)")
    sub.add_parser("migrate", help="create or upgrade the database schema")
    demo = sub.add_parser("demo", help="play ~50 closed tickets and answers (temporary database unless --database)")
    demo.add_argument("--tickets", type=int, default=50, help="how many tickets the demo closes (default 50)")
    demo.add_argument("--seed", type=int, default=7, help="random seed: the same seed plays the same story")
    demo.add_argument("--database", metavar="URL", help="keep the data in this database, e.g. sqlite:///demo.db")
    demo.add_argument("-v", "--verbose", action="store_true", help="show the service's log as the demo plays")
    tr = sub.add_parser("try", help="post a signed ticket close to a running `serve`, as a help desk would")
    tr.add_argument("--email", required=True, help="the customer to survey (a test address)")
    tr.add_argument("--url", help="where `serve` runs (default http://NPS_BOT_HOST:NPS_BOT_PORT)")
    tr.add_argument("--score", type=int, choices=range(0, 11), metavar="0-10",
                    help="also answer the survey once sent (needs the server's NPS_BOT_DATABASE_URL)")  # fmt: skip
    tr.add_argument("--survey", choices=("nps", "csat", "ces"), default="nps", help="survey kind (default nps)")
    tr.add_argument("--wait", type=float, default=15.0, help="seconds to wait for the server to answer (default 15)")
    dig = sub.add_parser("digest", help="the channel digest, rendered in the terminal")
    dig.add_argument("--print", action="store_true", required=True, help="print it (posting is the worker's job)")
    dig.add_argument("--period", default="7d", help=PERIOD_HELP)
    dig.add_argument("--by", default="team", help="agent, team, channel, tag, helpdesk or a customer attribute")
    dig.add_argument("--chart", metavar="FILE.png", help="also write the trend chart")
    imp = sub.add_parser("import", help="backfill answers from another survey tool (e.g. nicereply)")
    imp.add_argument("source", help="the importer's name, e.g. nicereply")
    imp.add_argument("--since", required=True, type=_date, help="YYYY-MM-DD (UTC)")
    imp.add_argument("--until", type=_date, help="YYYY-MM-DD (UTC), default now")
    forget = sub.add_parser("forget", help="erase one person's personal data and comments (scores stay, anonymous)")
    forget.add_argument("email", help="the customer's e-mail address")
    rollups = sub.add_parser("rollups", help="report rollups: `rollups rebuild` recomputes them from the answers")
    rollups.add_argument("action", choices=("rebuild",))
    intake = sub.add_parser("intake", help="webhooks stored and waiting for a worker to schedule them")
    intake.add_argument("action", nargs="?", choices=("status", "drain", "retry"), default="status",
                        help="status (default); drain: schedule them now; retry: requeue failed ones")  # fmt: skip
    tl = sub.add_parser("template-link", help="survey links for the help desk's own closing e-mail (HTML buttons)")
    tl.add_argument("connector", help="the help desk, e.g. liveagent, zendesk, freshdesk, helpscout")
    tl.add_argument("--kind", choices=("nps", "csat", "ces"), default="nps", help="survey kind (default nps)")
    tl.add_argument("--language", help="the page's language, signed into the links (default: the browser's)")
    tl.add_argument("--text", action="store_true", help="one 'score<TAB>link' per line instead of HTML")
    tl.add_argument("--ticket-placeholder", help="how this help desk writes the ticket id, e.g. {{ticket.id}}")
    tl.add_argument("--email-placeholder", help="how it writes the customer's e-mail address")
    tl.add_argument("--name-placeholder", help="how it writes the customer's name (optional)")
    tl.add_argument("--ticket", help="sign the links for this one ticket instead (with --email): nothing editable")
    tl.add_argument("--email", help="the customer's address, with --ticket")
    config = sub.add_parser("config", help="the settings in effect, secrets masked, and where each came from")
    config.add_argument("--all", action="store_true", help="also every integration setting left at its default")
    args = parser.parse_args(argv)
    from pydantic import ValidationError  # after parsing: `--help` answers without loading the settings

    from nps_bot.config import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"nps-bot: invalid settings: {_first_error(exc)}", file=sys.stderr)
        return 2
    # Commands that print their own result keep the log to warnings (no migration chatter around a
    # digest), unless NPS_BOT_LOG_LEVEL asks for more.
    quiet = args.command in _PRINTS_RESULT and "log_level" not in settings.model_fields_set
    logs.setup("WARNING" if quiet else settings.log_level, settings.log_format)
    handlers = {
        "serve": cmd_serve,
        "worker": cmd_worker,
        "migrate": cmd_migrate,
        "demo": cmd_demo,
        "import": cmd_import,
        "digest": cmd_digest,
        "forget": cmd_forget,
        "rollups": cmd_rollups,
        "intake": cmd_intake,
        "try": cmd_try,
        "config": cmd_config,
        "template-link": cmd_template_link,
    }
    try:
        return handlers[args.command](settings, args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if _is_database_down(exc):  # one line, not a hundred: the usual cause is the URL or the server
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            print(f"nps-bot: cannot use the database {_safe_url(settings.database_url)}: {reason}", file=sys.stderr)
            return 1
        log.debug("%s failed", args.command, exc_info=True)
        print(f"nps-bot {args.command}: {type(exc).__name__}: {exc} (NPS_BOT_LOG_LEVEL=DEBUG shows the traceback)",
              file=sys.stderr)  # fmt: skip
        return 1


def _is_database_down(exc: Exception) -> bool:
    # SQLAlchemy is imported by the subcommands that use it, not here: `nps-bot --help` stays fast.
    errors = sys.modules.get("sqlalchemy.exc")
    return errors is not None and isinstance(exc, errors.OperationalError)


_PRINTS_RESULT = frozenset({"digest", "config", "forget", "import", "try", "template-link", "rollups", "intake"})


def _first_error(error: ValidationError) -> str:
    item = error.errors()[0]
    where = ".".join(str(p) for p in item["loc"]).upper()
    return f"NPS_BOT_{where}: {item['msg']}" if where else item["msg"]


if __name__ == "__main__":
    raise SystemExit(main())
