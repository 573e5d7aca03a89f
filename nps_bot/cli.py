"""nps-bot: NPS, CSAT and CES surveys after every support conversation, answered and reported in Slack.

Subcommands: serve | worker | migrate | demo | digest --print | import | forget. Settings come from NPS_BOT_*
environment variables or a .env file (see README.md)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from datetime import datetime

import sqlalchemy as sa
from pydantic import ValidationError

from nps_bot import logs
from nps_bot.config import Settings
from nps_bot.reporting.periods import PERIOD_HELP

log = logging.getLogger("nps_bot")
# Each subcommand imports what it needs inside its function: `nps-bot migrate` should not pay for
# uvicorn, Bolt and matplotlib. (No import here dodges a cycle; lint-imports checks the layers.)


def cmd_serve(settings: Settings, _: argparse.Namespace) -> int:
    import uvicorn

    from nps_bot.app import AppContext
    from nps_bot.web import create_app

    ctx = AppContext.build(settings)
    log.info(
        "nps-bot listening on http://%s:%d (database %s); survey links point at %s",
        settings.host,
        settings.port,
        _safe_url(settings.database_url),
        settings.public_url,
    )
    uvicorn.run(
        create_app(ctx),
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
    from nps_bot.demo import run_demo

    print(run_demo(tickets=args.tickets, seed=args.seed))
    return 0


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
    demo = sub.add_parser("demo", help="play ~50 closed tickets and answers on a temporary database")
    demo.add_argument("--tickets", type=int, default=50, help="how many tickets the demo closes (default 50)")
    demo.add_argument("--seed", type=int, default=7, help="random seed: the same seed plays the same story")
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
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"nps-bot: invalid settings: {_first_error(exc)}", file=sys.stderr)
        return 2
    logs.setup(settings.log_level)
    handlers = {
        "serve": cmd_serve,
        "worker": cmd_worker,
        "migrate": cmd_migrate,
        "demo": cmd_demo,
        "import": cmd_import,
        "digest": cmd_digest,
        "forget": cmd_forget,
    }
    try:
        return handlers[args.command](settings, args)
    except KeyboardInterrupt:
        return 130
    except sa.exc.OperationalError as exc:  # one line, not a hundred: the usual cause is the URL or the server
        reason = str(exc.orig or exc).strip().splitlines()[0]
        print(f"nps-bot: cannot use the database {_safe_url(settings.database_url)}: {reason}", file=sys.stderr)
        return 1
    except Exception as exc:
        log.debug("%s failed", args.command, exc_info=True)
        print(f"nps-bot {args.command}: {type(exc).__name__}: {exc} (NPS_BOT_LOG_LEVEL=DEBUG shows the traceback)",
              file=sys.stderr)  # fmt: skip
        return 1


def _first_error(error: ValidationError) -> str:
    item = error.errors()[0]
    where = ".".join(str(p) for p in item["loc"]).upper()
    return f"NPS_BOT_{where}: {item['msg']}" if where else item["msg"]


if __name__ == "__main__":
    raise SystemExit(main())
