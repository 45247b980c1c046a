"""Adaptive concurrency: additive increase on success, multiplicative decrease on throttling.

The engine holds a slot only while a request is on the wire; back-off sleeps
happen outside the limiter so a request waiting to retry does not block others.
A server's Retry-After pauses every new request, not just the one that got it:
the rate limit it announces applies to the whole client.
"""

from __future__ import annotations

import asyncio
import time


class AdaptiveLimiter:
    """An async semaphore whose size follows AIMD between `min_limit` and `max_limit`.

    Each success adds 1/limit (about +1 per round of requests); a 429, 5xx or
    timeout halves the limit, at most once per `cooldown_seconds` so one burst
    of errors from requests already in flight counts as a single signal.
    """

    def __init__(
        self,
        max_limit: int,
        min_limit: int = 1,
        cooldown_seconds: float = 1.0,
        max_pause_seconds: float = 60.0,
    ):
        self.max_limit = max(1, max_limit)
        self.min_limit = max(1, min(min_limit, self.max_limit))
        self.limit = float(self.max_limit)
        self.in_flight = 0
        self.cooldown_seconds = cooldown_seconds
        self.max_pause_seconds = max_pause_seconds
        self.paused_until = 0.0
        self._last_decrease = -1e9
        self._cond = asyncio.Condition()
        self.history: list[tuple[float, float]] = [(time.monotonic(), self.limit)]
        self.decreases = 0
        self.pauses = 0

    async def acquire(self) -> None:
        while True:
            delay = self.paused_until - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            async with self._cond:
                if self.in_flight < int(self.limit) and time.monotonic() >= self.paused_until:
                    self.in_flight += 1
                    return
                # Woken by a release; the pause and the limit are checked again.
                await self._cond.wait()

    async def release(self) -> None:
        async with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    async def __aenter__(self) -> AdaptiveLimiter:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.release()

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

    def pause(self, seconds: float) -> None:
        """Hold every new request for `seconds` (a server's Retry-After)."""
        until = time.monotonic() + min(max(0.0, seconds), self.max_pause_seconds)
        if until > self.paused_until:
            self.paused_until = until
            self.pauses += 1

    @property
    def min_seen(self) -> float:
        return min(v for _, v in self.history)
