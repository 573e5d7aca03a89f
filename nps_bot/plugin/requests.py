"""Reading request bodies safely: the one size limit every endpoint applies before parsing."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLarge(Exception):
    """The body is over the limit (answer 413); nothing past the limit was read."""


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refused early (by Content-Length) or as soon as it grows past `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
