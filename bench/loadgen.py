"""A closed-loop HTTP/1.1 load generator that costs the machine as little as possible.

httpx spends about a millisecond of CPU per request; on a 2-core machine that made the load generator,
not the server, the limit of the bare baseline (481 req/s against about 2,000 with this client), so
ratios against it were overstated. Here each of N keep-alive connections writes a request built
beforehand and reads the answer with asyncio streams: status line, headers, a Content-Length body.
Enough for our own server and the bare baseline; not a general HTTP client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator


def post_request(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"host: {host}", f"content-length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _run(
    host: str, port: int, requests: Iterable[bytes], connections: int
) -> tuple[list[float], list[int], float]:
    todo: Iterator[bytes] = iter(requests)
    latencies: list[float] = []
    statuses: list[int] = []
    streams = [await asyncio.open_connection(host, port) for _ in range(connections)]

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for raw in todo:
            start = time.perf_counter()
            writer.write(raw)
            statuses.append(await _read_response(reader))
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(connection(r, w) for r, w in streams))
    elapsed = time.perf_counter() - start
    for _, writer in streams:
        writer.close()
    return latencies, statuses, elapsed


def run(host: str, port: int, requests: Iterable[bytes], connections: int) -> tuple[list[float], list[int], float]:
    """Send every request over `connections` keep-alive connections; latencies (s), statuses, wall time (s)."""
    return asyncio.run(_run(host, port, requests, connections))
