"""A request's CPU work (scanning, parsing): in place when it is short, in a worker thread
when it is long.

A worker thread keeps the event loop free during a long scan (40,000 characters take about
40 ms), but the hop has its own cost: a wait for one of the pool's few threads and a GIL
hand-over each way. Under load that wait was longer than scanning a short message takes
(well under a millisecond), and every request made four or five such hops. Text up to
`INLINE_CHARS` is worked on in place: about 2 ms of detection at its measured rate of under
1 ms per KB, the most any request may hold the loop for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

INLINE_CHARS = 2000

P = ParamSpec("P")
R = TypeVar("R")


async def cpu_work(chars: int, work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`work(*args, **kwargs)`, in place when it reads at most `INLINE_CHARS` characters,
    else in a worker thread."""
    if chars <= INLINE_CHARS:
        return work(*args, **kwargs)
    return await asyncio.to_thread(work, *args, **kwargs)
