"""Work on threads in a forked process (``serve --num-procs N`` warms up, then forks): Dask's
threaded scheduler and the project's worker pools, used in the parent, work in the child."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

import dask.array as da

from safetyviz.core.threads import WorkerPool
from safetyviz.data import engine


def in_a_forked_child(work: Callable[[], object], seconds: int = 30) -> str:
    """What ``work`` returns in a child forked now (as text), or "error <Name>"; the child
    is ended by an alarm after ``seconds`` ("" then: it waited forever)."""
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child's outcome comes through the pipe)
        signal.alarm(seconds)
        try:
            os.write(writing, str(work()).encode())
        except BaseException as exc:  # reported to the parent, never raised here
            os.write(writing, f"error {type(exc).__name__}".encode())
        finally:
            os._exit(0)
    os.close(writing)
    os.waitpid(child, 0)
    with os.fdopen(reading, "rb") as answer:
        return answer.read().decode()


def test_a_forked_process_computes_on_dask_threads_of_its_own():
    assert engine.compute(da.arange(10, chunks=5).sum()) == 45  # the parent's pool, started
    assert in_a_forked_child(lambda: engine.compute(da.arange(100, chunks=10).sum())) == \
        "4950"
    assert engine.compute(da.arange(4, chunks=2).sum()) == 6  # the parent's, still working


def test_a_worker_pool_used_before_a_fork_works_in_the_child():
    pool = WorkerPool(max_workers=2, name="test-pool")
    assert pool.submit(threading.current_thread).result().name.startswith("test-pool")
    # the child's thread is not the parent's (which the fork did not copy)
    assert in_a_forked_child(lambda: pool.submit(lambda: 6 * 7).result(timeout=20)) == "42"
    assert list(pool.map(abs, [-1, 2])) == [1, 2]
