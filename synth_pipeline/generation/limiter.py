"""Adaptive concurrency: additive increase on success, multiplicative decrease on throttling."""

from __future__ import annotations

import asyncio
import time


class AdaptiveLimiter:
    """An async semaphore whose size follows AIMD between `min_limit` and `max_limit`.

    Each success adds 1/limit (about +1 per round of requests); a 429, 5xx or
    timeout halves the limit, at most once per `cooldown_seconds` so one burst
    of errors from requests already in flight counts as a single signal.
    """

    def __init__(self, max_limit: int, min_limit: int = 1, cooldown_seconds: float = 1.0):
        self.max_limit = max(1, max_limit)
        self.min_limit = max(1, min(min_limit, self.max_limit))
        self.limit = float(self.max_limit)
        self.in_flight = 0
        self.cooldown_seconds = cooldown_seconds
        self._last_decrease = -1e9
        self._cond = asyncio.Condition()
        self.history: list[tuple[float, float]] = [(time.monotonic(), self.limit)]
        self.decreases = 0

    async def __aenter__(self) -> AdaptiveLimiter:
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < int(self.limit))
            self.in_flight += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        async with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    def on_success(self) -> None:
        if self.limit < self.max_limit:
            self.limit = min(float(self.max_limit), self.limit + 1.0 / self.limit)
            self.history.append((time.monotonic(), self.limit))

    def on_throttle(self) -> None:
        now = time.monotonic()
        if now - self._last_decrease < self.cooldown_seconds:
            return
        self._last_decrease = now
        self.limit = max(float(self.min_limit), self.limit / 2)
        self.decreases += 1
        self.history.append((now, self.limit))

    @property
    def min_seen(self) -> float:
        return min(v for _, v in self.history)
