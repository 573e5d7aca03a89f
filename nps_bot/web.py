"""The HTTP face of the service: webhooks in, hosted survey page, health, and integration routes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import json
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import orjson
import sqlalchemy as sa
from starlette import responses
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from nps_bot.app import AppContext
from nps_bot.clock import Clock
from nps_bot.delivery.worker import Worker
from nps_bot.plugin.ports import (
    Parsed,
    ProvidesLifespan,
    ProvidesRoutes,
    ReportsReadiness,
    WebhookError,
    WebhookRequest,
)
from nps_bot.plugin.requests import BodyTooLarge, read_limited
from nps_bot.store.intake import IntakeUnavailable, IntakeWriter, Row, insert_rows, intake_writer
from nps_bot.store.sql import OUTAGE
from nps_bot.surveys import intake
from nps_bot.surveys.page import message_page, survey_page_routes, unsubscribe_routes
from nps_bot.surveys.page_theme import PageTheme
from nps_bot.surveys.template_link import template_link_routes

log = logging.getLogger(__name__)
# How long a help desk should wait before redelivering a webhook we could not store.
RETRY_AFTER_SECONDS = 30
# Bodies up to this size are verified and parsed on the event loop by connectors that only compute.
INLINE_PARSE_BYTES = 64 * 1024
# How often `serve` checks that queued webhooks are being scheduled.
INTAKE_WATCH_SECONDS = 60.0
# Input that makes a parser fail this way is the sender's problem (4xx), not a server error.
_BAD_INPUT = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError)


class JSONResponse(responses.JSONResponse):
    """Starlette's JSON answer, encoded by orjson: a quarter of the cost on every webhook."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _insert_now(engine: sa.Engine, row: Row) -> None:
    with engine.begin() as conn:
        insert_rows(conn, [row])


async def _watch_intake(queue: intake.WebhookIntake, clock: Clock) -> None:
    """Say in the log when queued webhooks are not being scheduled (no worker running, or too few)."""
    while True:
        await asyncio.sleep(INTAKE_WATCH_SECONDS)
        try:
            warning = await run_in_threadpool(queue.lag_warning, clock.now())
        except Exception as exc:  # the database is away: /healthz says so; keep watching
            log.debug("intake watch: %s", type(exc).__name__)
            continue
        if warning:
            log.warning(warning)


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(ctx: AppContext, *, freeze_after_start: bool = False) -> Starlette:
    queue = intake.WebhookIntake(ctx.surveys)

    async def healthz(_: Request) -> Response:
        """Health: the process answers and the database does (503 otherwise); /readyz adds the integrations."""

        def ping() -> None:
            with ctx.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))

        try:
            await run_in_threadpool(ping)
        except Exception as exc:
            log.error("health check: database unavailable: %s", type(exc).__name__)
            return JSONResponse({"status": "error", "database": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    async def readyz(request: Request) -> Response:
        """Readiness for traffic: the database (as /healthz), and each integration that reports (Socket Mode);
        with the intake queue's figures for monitoring (they never change the status)."""
        health = await healthz(request)
        body = json.loads(bytes(health.body))
        if health.status_code == 200:
            try:
                body["intake"] = dataclasses.asdict(await run_in_threadpool(queue.gauge, ctx.clock.now()))
            except Exception as exc:  # the database went away since the ping: the next probe says so
                log.warning("readiness: intake figures unavailable (%s)", type(exc).__name__)
        reports = [r for p in ctx.integrations.values() if isinstance(p, ReportsReadiness) and (r := p.readiness())]
        body.update({name: state for name, state, _ in reports})
        if health.status_code == 200 and not all(ready for _, _, ready in reports):
            body["status"] = "starting"
            return JSONResponse(body, status_code=503)
        return JSONResponse(body, status_code=health.status_code)

    async def livez(_: Request) -> Response:
        """Liveness: the process serves requests; says nothing about the database (see /readyz)."""
        return JSONResponse({"status": "ok"})

    async def webhook(request: Request) -> Response:
        name = request.path_params["connector"]
        connector = ctx.connector(name)
        if connector is None:
            return JSONResponse({"error": f"unknown connector {name!r}"}, status_code=404)
        try:
            body = await read_limited(request, ctx.settings.max_body_bytes)
        except BodyTooLarge:
            return JSONResponse({"error": f"body larger than {ctx.settings.max_body_bytes} bytes"}, status_code=413)
        except ClientDisconnect:
            return Response(status_code=400)
        incoming = WebhookRequest(
            body=body,
            # From the ASGI scope: Starlette's Headers and QueryParams objects cost more than the dicts.
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.scope["headers"]},
            query=dict(request.query_params) if request.scope.get("query_string") else {},
            received_at=ctx.clock.now(),
            path_params=dict(request.path_params),
        )

        def verify_and_parse() -> Parsed:
            connector.verify(incoming)
            return connector.parse(incoming)

        try:
            if getattr(connector, "parses_in_memory", False) is True and len(body) <= INLINE_PARSE_BYTES:
                # Pure computation on a small body (~0.1 ms): a thread hand-off costs more than that
                # (on 2 cores it halved throughput, bench/PROFILE.md), so verify and parse run here.
                parsed = verify_and_parse()
            else:
                # Off the event loop: a large body to hash, or a connector that writes (imports).
                parsed = await run_in_threadpool(verify_and_parse)
            interactions = list(parsed.interactions)
            if interactions:
                # Answered once stored; a worker schedules it (surveys/intake.py).
                row = (name, intake.encode(interactions, incoming.received_at))
                writer: IntakeWriter | None = getattr(request.app.state, "intake_writer", None)
                if writer is not None:
                    await writer.store(row)
                else:  # no lifespan ran (an embedder's own server): a plain transaction in a thread
                    await run_in_threadpool(_insert_now, ctx.engine, row)
        except WebhookError as exc:
            log.warning("webhook %s rejected (%d): %s", name, exc.status, exc.reason)
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        except _BAD_INPUT as exc:  # a connector tripped over the payload: still the sender's input
            log.error("webhook %s: payload broke the parser (%s)", name, type(exc).__name__, exc_info=True)
            return JSONResponse({"error": f"malformed payload ({type(exc).__name__})"}, status_code=400)
        except (*OUTAGE, IntakeUnavailable) as exc:
            # Not stored, so never a 2xx: the help desk redelivers, and we recover with the database.
            log.error("webhook %s: database unavailable (%s); asked the sender to retry", name, type(exc).__name__)
            return JSONResponse(
                {"error": "database unavailable, retry later"},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        if not interactions:
            log.info("webhook %s ignored: %s", name, parsed.ignored)
            return JSONResponse({"status": "ignored", "reason": parsed.ignored}, status_code=202)
        events = [i.event_id for i in interactions]
        log.info("webhook %s queued: %s", name, events)  # formatted only when INFO is on
        return JSONResponse({"status": "queued", "events": events}, status_code=202)

    theme = PageTheme.from_settings(ctx.settings)  # the hosted pages' branding and security headers
    routes: list[BaseRoute] = [
        Route("/webhooks/{connector}", webhook, methods=["POST"]),  # first: routes are tried in order
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/livez", livez, methods=["GET"]),
        *survey_page_routes(ctx.surveys, ctx.notify_answer, ctx.settings.company_name, theme),
        *unsubscribe_routes(ctx.surveys, ctx.settings.company_name, ctx.settings.verifying_keys, theme),
        # The help desk's own closing e-mail links here; refusals use the hosted pages' message page.
        *template_link_routes(
            ctx.surveys,
            ctx.settings.verifying_keys,
            functools.partial(message_page, theme, ctx.settings.company_name),
        ),
    ]
    for plugin in ctx.integrations.values():
        if isinstance(plugin, ProvidesRoutes):
            routes.extend(plugin.routes())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = threading.Event()
        worker_thread = None
        async with contextlib.AsyncExitStack() as stack:
            # Stores verified webhooks from the event loop (store/intake.py). Closed after uvicorn
            # finished the open requests: every row already taken is committed or refused by then.
            app.state.intake_writer = intake_writer(ctx.engine)
            stack.push_async_callback(app.state.intake_writer.aclose)
            watch = asyncio.create_task(_watch_intake(queue, ctx.clock))
            stack.push_async_callback(_cancelled, watch)
            for plugin in ctx.integrations.values():
                if isinstance(plugin, ProvidesLifespan):
                    await stack.enter_async_context(plugin.lifespan())
            if ctx.settings.embedded_worker:
                worker = Worker(ctx)
                worker_thread = threading.Thread(
                    target=worker.run_forever, args=(stop,), name="nps-worker", daemon=True
                )
                worker_thread.start()
            if freeze_after_start:
                # Everything built at start-up (settings, integrations, SQLAlchemy's and Bolt's caches)
                # lives as long as the process: out of the collector's sight, each collection scans
                # less (bench/PROFILE.md). Only for `serve`'s own process: a test or an embedder that
                # builds many apps must not freeze its garbage.
                gc.collect()
                gc.freeze()
            try:
                yield
            finally:
                stop.set()
                if worker_thread is not None:
                    await asyncio.to_thread(worker_thread.join, 10)

    async def database_unavailable(request: Request, exc: Exception) -> Response:
        # Any page or endpoint that meets a database outage: a retryable 503, never a 500.
        log.error("%s %s: database unavailable (%s)", request.method, request.url.path, type(exc).__name__)
        return PlainTextResponse(
            "Temporarily unavailable: please try again in a minute.",
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    outage = {error: database_unavailable for error in OUTAGE}
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=outage)  # type: ignore[arg-type]
