"""A least-recently-used cache for results computed in this process and shared between
threads (a server's sessions): the layers below the pages use it where Panel's ``pn.cache``
cannot reach (no Panel there).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class LRU(Generic[T]):
    """The ``size`` values most recently asked for, by key — fewer if ``weigh`` (a value's
    cost, e.g. its bytes) is given and their costs would pass ``budget``; the latest value is
    always kept. A value is computed outside the lock (two threads asking for a new key at
    once may both compute it; the results are equal)."""

    def __init__(self, size: int, weigh: Callable[[T], float] | None = None,
                 budget: float = float("inf")):
        self.size = size
        self.weigh, self.budget = weigh, budget
        self._values: OrderedDict[Hashable, T] = OrderedDict()
        self._costs: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value of ``key``, computed by ``compute()`` if not kept."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = compute()
        cost = self.weigh(value) if self.weigh else 0.0
        with self._lock:
            self._values[key], self._costs[key] = value, cost
            self._values.move_to_end(key)
            while len(self._values) > 1 and (len(self._values) > self.size
                                             or self.cost > self.budget):
                oldest, _ = self._values.popitem(last=False)
                del self._costs[oldest]
        return value

    @property
    def cost(self) -> float:
        """What the values kept cost together (0 without ``weigh``)."""
        return sum(self._costs.values())

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._values
