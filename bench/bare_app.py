"""The same-run baseline for ingest: a bare Starlette POST endpoint that reads the body and answers 202
with a small JSON body, served by uvicorn with the settings `nps-bot serve` uses. Nothing else."""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def webhook(request: Request) -> Response:
    await request.body()
    return JSONResponse({"status": "scheduled"}, status_code=202)


async def livez(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/webhooks/{connector}", webhook, methods=["POST"]), Route("/livez", livez)])

if __name__ == "__main__":  # python -m bench.bare_app PORT (uvicorn.run as nps_bot.cli.cmd_serve calls it)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", log_config=None)
