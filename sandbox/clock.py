"""A simulated clock: the one "now" of a sandbox run, so an hour of traffic runs in seconds.

The metric store stamps function output with `now()`, the alarm evaluator evaluates at `now()`,
the traffic generator writes records at `now()`, schedules fire when `advance()` crosses them.
Nothing sleeps: `advance()` moves simulated time instantly.

Real waits cannot be simulated away: moto's Step Functions engine really sleeps in Wait states
and counts `TimeoutSeconds` in real time. The state machines take those durations from their
input or from a policy (never hard-coded in ASL), so the drill passes durations already scaled
with `scaled()`: with `scale=60`, a 5-minute tier delay becomes 5 real seconds. `to_real()` and
`to_simulated()` convert between the two timelines for the timeline printout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

Listener = Callable[[datetime, datetime], None]


def utc(value: datetime | str) -> datetime:
    """A timezone-aware UTC datetime from a datetime (naive = UTC) or an ISO-8601 string."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass
class SimClock:
    """Simulated UTC time that moves only when told to; `scale` = simulated seconds per real second."""

    start: datetime = field(default_factory=lambda: datetime.now(UTC).replace(second=0, microsecond=0))
    scale: float = 60.0
    _now: datetime = field(init=False)
    _real_start: float = field(init=False, default_factory=time.monotonic)
    _listeners: list[Listener] = field(init=False, default_factory=list)
    _lock: threading.RLock = field(init=False, default_factory=threading.RLock)

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ValueError(f"clock scale must be positive, got {self.scale}")
        self.start = utc(self.start)
        self._now = self.start

    def now(self) -> datetime:
        """The current simulated time."""
        return self._now

    def epoch(self) -> float:
        """The current simulated time as Unix seconds."""
        return self._now.timestamp()

    def elapsed(self) -> timedelta:
        """Simulated time since the start."""
        return self._now - self.start

    def on_advance(self, listener: Listener) -> None:
        """Call `listener(previous, now)` after every advance (schedules, alarm evaluation…)."""
        self._listeners.append(listener)

    def advance(self, seconds: float) -> datetime:
        """Move simulated time forward by `seconds` and notify listeners; returns the new now."""
        if seconds < 0:
            raise ValueError("the simulated clock only moves forward")
        with self._lock:
            previous = self._now
            self._now = previous + timedelta(seconds=seconds)
            for listener in list(self._listeners):
                listener(previous, self._now)
            return self._now

    def advance_to(self, when: datetime) -> datetime:
        """Move simulated time forward to `when` (no-op if already there)."""
        delta = (utc(when) - self._now).total_seconds()
        return self.advance(max(0.0, delta))

    def ticks(self, step_seconds: float, until: datetime) -> Iterator[datetime]:
        """Advance in steps of `step_seconds` until `until`, yielding each new now."""
        if step_seconds <= 0:
            raise ValueError("step must be positive")
        until = utc(until)
        while self._now < until:
            remaining = (until - self._now).total_seconds()
            yield self.advance(min(step_seconds, remaining))

    def scaled(self, simulated_seconds: float) -> float:
        """Real seconds standing for `simulated_seconds` (for Wait/timeout durations in state input)."""
        return simulated_seconds / self.scale

    def to_simulated(self, real_monotonic: float) -> datetime:
        """The simulated time a real monotonic instant maps to, if time had flowed at `scale`."""
        return self.start + timedelta(seconds=(real_monotonic - self._real_start) * self.scale)

    def to_real(self, simulated: datetime) -> float:
        """Real seconds since the clock was created that `simulated` maps to at `scale`."""
        return (utc(simulated) - self.start).total_seconds() / self.scale
