"""Parsing untrusted email files in a worker process, with a deadline and a memory limit.

`check_limits` refuses what is obviously hostile, but the standard library's MIME and header
parsers can still be slow or hungry on input that passes it, and on the event loop a slow
parse stalls every answer in flight (an out-of-memory kill would lose all of them). pebble's
ProcessPool kills a worker that misses its deadline and starts a new one, which
`concurrent.futures` cannot do; the worker is spawned (not forked, so it does not inherit
the embedded model's address space) and caps its own address space at start.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import resource
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

from pebble import ProcessExpired, ProcessPool

from bot.customer_email.parse import EmailReadError, ParsedEmail, parse_file

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_BYTES = 1024 * 1024 * 1024
# One file per worker process: a parse that came close to the memory cap leaves nothing
# behind for the next file (a worker reused after one died receiving its next task, and
# the files queued behind it were never answered). Spawning costs about 0.3 s per file.
TASKS_PER_WORKER = 1
# Time for spawning a worker and queueing behind the other one, on top of the parse's own
# deadline: past it the caller gets its sentence whatever became of the worker.
_SPAWN_AND_QUEUE_S = 20.0


def _cap_memory(limit_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


def _parse_in_worker(name: str, content: bytes) -> ParsedEmail:
    try:
        return parse_file(name, content)
    except EmailReadError:
        raise
    except MemoryError:
        raise EmailReadError("it needs more memory to read than any real email") from None
    except RecursionError:
        raise EmailReadError("it is nested deeper than any real email") from None
    except Exception as exc:  # any parser failure becomes one sentence, never a crash
        raise EmailReadError(f"it is not a readable email ({type(exc).__name__})") from None


class EmailFileParser:
    """Parses email files off the event loop, in one worker process started on first use."""

    def __init__(
        self,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        workers: int = 2,
    ) -> None:
        self._timeout_s = timeout_s
        self._memory_bytes = memory_bytes
        self._workers = workers
        self._pool: ProcessPool | None = None
        self._lock = threading.Lock()

    def _get_pool(self) -> ProcessPool:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPool(
                    max_workers=self._workers,
                    max_tasks=TASKS_PER_WORKER,
                    initializer=_cap_memory,
                    initargs=(self._memory_bytes,),
                    context=multiprocessing.get_context("spawn"),
                )
            return self._pool

    async def parse_file(self, name: str, content: bytes) -> ParsedEmail:
        """The parsed email; EmailReadError (one sentence) for anything that goes wrong."""
        pool = await asyncio.to_thread(self._get_pool)  # spawning takes a moment
        future = pool.schedule(_parse_in_worker, args=(name, content), timeout=self._timeout_s)
        wrapped = asyncio.wrap_future(future)
        # asyncio.wait, not wait_for: the future must not be cancelled before it is asked
        # whether it ever started.
        done, _ = await asyncio.wait({wrapped}, timeout=self._timeout_s + _SPAWN_AND_QUEUE_S)
        if not done:
            started = future.running()
            future.cancel()  # type: ignore[no-untyped-call]
            if started:
                raise EmailReadError("it took too long to read; it is not a normal email")
            log.warning("email parse queue full; file refused")
            raise EmailReadError(
                "the email reader is busy with other files; please try again in a minute"
            )
        try:
            return wrapped.result()
        except EmailReadError:
            raise
        except (FutureTimeout, TimeoutError):
            log.warning("email parse exceeded its deadline; worker replaced")
            raise EmailReadError("it took too long to read; it is not a normal email") from None
        except ProcessExpired as exc:
            log.warning("email parse worker died", extra={"exit_code": exc.exitcode})
            raise EmailReadError("it needs more memory to read than any real email") from None
        except BrokenProcessPool:
            log.error("the email parse worker cannot start; it will be started again")
            self.close()
            raise EmailReadError("the email reader could not start") from None

    def close(self) -> None:
        """Stop the worker (at shutdown)."""
        with self._lock:
            if self._pool is not None:
                self._pool.stop()  # type: ignore[no-untyped-call]
                self._pool.join(timeout=5)
                self._pool = None
