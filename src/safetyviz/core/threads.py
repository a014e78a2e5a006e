"""Worker threads that survive a fork. A server with several processes warms up, then forks;
each child inherits the parent's thread pools but not their threads, so work submitted to an
inherited pool waits forever. A :class:`WorkerPool` is made anew in each forked child.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class WorkerPool:
    """A :class:`~concurrent.futures.ThreadPoolExecutor` of ``max_workers`` threads named
    ``name``, started on first use; a forked child starts one of its own. Made once, at
    module level (each pool is remembered by every later fork)."""

    def __init__(self, max_workers: int, name: str):
        self.max_workers, self.name = max_workers, name
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        # the parent's pool is left alone (its threads are not this process's), and so is
        # its lock, which another thread may have held at the fork
        self._pool, self._lock = None, threading.Lock()

    def _current(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix=self.name)
            return self._pool

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return self._current().submit(fn, *args, **kwargs)

    def map(self, fn: Callable[..., Any], *iterables: Iterable) -> Iterator:
        return self._current().map(fn, *iterables)
