"""Independent AWS calls side by side: each waits on the network, not on the CPU, so threads overlap them.

boto3 clients are thread-safe (eksguard.aws.clients makes each once, under a lock); sessions are not, and none is
made here. The first exception raised by a call is raised again once every call has finished: a failure is never
swallowed, and no call is left running behind the caller's back."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Run each call in its own thread; their results, in order."""
    if len(calls) < 2:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
    return [f.result() for f in futures]


def each[T, U](function: Callable[[T], U], items: Iterable[T], workers: int) -> list[U]:
    """``function`` over ``items``, at most ``workers`` at a time; the results in the order of ``items``."""
    listed: Sequence[T] = list(items)
    if workers < 2 or len(listed) < 2:
        return [function(item) for item in listed]
    with ThreadPoolExecutor(max_workers=min(workers, len(listed))) as pool:
        futures = [pool.submit(function, item) for item in listed]
    return [f.result() for f in futures]
