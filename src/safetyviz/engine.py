"""Where Dask computations run: the threaded scheduler in this process (the default: no
server to start), or a ``dask.distributed`` cluster named by an address (``--scheduler`` or
``SAFETYVIZ_DASK_SCHEDULER``), for the same code at larger scale."""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import UserError

SCHEDULER_ENV = "SAFETYVIZ_DASK_SCHEDULER"


def scheduler_address(address: str | None = None) -> str | None:
    """The scheduler to use: ``address`` if given, else the environment's, else None."""
    return address or os.environ.get(SCHEDULER_ENV) or None


@contextmanager
def dask_scheduler(address: str | None = None) -> Iterator[object | None]:
    """Within the block, ``dask.compute`` runs on the cluster at ``address`` (or the
    environment's); with neither, on the local threaded scheduler. Yields the client or None.
    An unreachable scheduler is a UserError naming it."""
    address = scheduler_address(address)
    if address is None:
        yield None
        return
    try:
        from distributed import Client
    except ImportError:
        raise UserError("a Dask scheduler address needs the package distributed "
                        "(pip install 'safetyviz[cluster]')") from None
    try:
        client = Client(address, timeout="10s", set_as_default=True)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UserError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    with client:
        yield client


def lean_allocators() -> None:
    """Trade a little speed for memory in a process that builds the cube: Arrow allocates
    with the system allocator (which returns freed memory) instead of its own pool, and glibc
    keeps two malloc arenas instead of eight per core (threads otherwise fragment memory that
    is never given back). Measured on 50M records: peak 1.88 GB → 1.49 GB, 10 % slower.
    Process-wide, so called by the command line, not by the library."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX
        except (OSError, AttributeError):
            pass  # not glibc: nothing to tune
