"""One writer thread with group commit, for SQLite.

SQLite takes one writer at a time; eight request threads each opening their own write transaction
queue up inside SQLite's busy handler, which sleeps in growing steps (the p99 of seconds we measured).
Here writers hand their job to a queue instead; one thread takes everything waiting, runs each job in
its own SAVEPOINT inside one `BEGIN IMMEDIATE` transaction and commits once. A job's future is
resolved only after the COMMIT that holds its rows, so a 2xx still means "stored". The webhook intake
(store/intake.py) sends its rows here when another process holds the lock: this thread waits for it,
the event loop does not.

- a job that raises rolls back to its savepoint: only that job fails, the rest of the batch commits;
- a failed COMMIT (or a database that is unavailable) fails every job of that batch, and only those;
- `close()` stops taking jobs and returns once everything already queued is committed or failed.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from nps_bot.store.sql import OUTAGE, driver_savepoint, write_transaction

log = logging.getLogger(__name__)
T = TypeVar("T")
_STOP = object()


class WriterClosed(RuntimeError):
    """A job was submitted after close(): nothing was stored."""


class GroupCommitWriter:
    def __init__(self, engine: Engine, *, max_batch: int = 64, name: str = "nps-writer") -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()  # orders submit() against close(): no job lands after the stop mark
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[Connection], T]) -> Future[T]:
        """Run `job(conn)` in the writer's next transaction; the future resolves after its commit."""
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise WriterClosed("the database writer is shut down")
            self._queue.put((job, future))
        return future

    @property
    def closed(self) -> bool:
        return self._closed

    def pending(self) -> int:
        """Jobs waiting for the writer (approximate; for tests and metrics)."""
        return self._queue.qsize()

    def close(self, timeout: float | None = 30) -> None:
        """Stop taking jobs; return when every job already queued is committed (or failed)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout)

    # -- the writer thread -----------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[tuple[Callable[[Connection], Any], Future[Any]]] = []
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
                if len(batch) >= self.max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._commit(batch)

    def _commit(self, batch: list[tuple[Callable[[Connection], Any], Future[Any]]]) -> None:
        results: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            with write_transaction(self.engine) as conn:
                for job, future in batch:
                    if not future.set_running_or_notify_cancel():
                        continue
                    try:
                        with driver_savepoint(conn, "job"):
                            value = job(conn)
                    except OUTAGE:
                        raise
                    except Exception as exc:  # this job's own failure: its savepoint is undone
                        results.append((future, None, exc))
                        continue
                    results.append((future, value, None))
        except Exception as exc:
            log.error("database writer: batch of %d not stored (%s)", len(batch), type(exc).__name__)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, value, error in results:
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(error)
