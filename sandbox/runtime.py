"""The whole stack running on moto under a simulated clock: what the drill and e2e tests drive.

    with running(scale=60) as sb:
        ...write invocation records at sb.clock.now()...
        sb.advance(60)          # fires due schedules, then evaluates every alarm at each minute
        sb.changes              # every alarm state change so far (events already delivered)

`advance()` walks simulated time minute by minute. At each schedule's fire time the clock is
moved there first, so what the target prints is stamped with that time; at each minute
boundary the alarms are evaluated, as CloudWatch evaluates them once a minute. Real waits
(Step Functions Wait states, task-token timeouts) are not simulated: pass durations through
`clock.scaled()` (see sandbox.clock).

By default simulated time starts two hours before the wall clock. Handlers that read the wall
clock (a month-to-date GetMetricData up to "now") then still see every simulated datapoint, as
long as a run covers less than two simulated hours.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.alarms import AlarmEvaluator, StateChange
from sandbox.clock import SimClock
from sandbox.intrinsics import ForEachHook
from sandbox.metricmath import AnomalyModel
from sandbox.metrics import MetricStore
from sandbox.shims import Invocation
from sandbox.stack import ScheduleSpec, Stack, StackError

EVALUATION_INTERVAL = 60  # seconds between alarm evaluations, as in CloudWatch
DEFAULT_LEAD = timedelta(hours=2)  # simulated time starts this long before the wall clock


@dataclass
class Sandbox:
    """A created stack with its clock, metric store and alarm evaluator."""

    clock: SimClock
    store: MetricStore
    stack: Stack
    evaluator: AlarmEvaluator
    invocations: list[Invocation]
    fired: list[tuple[ScheduleSpec, datetime]] = field(default_factory=list)
    on_change: list[Callable[[StateChange], None]] = field(default_factory=list)

    @property
    def changes(self) -> list[StateChange]:
        """Every alarm state change so far, oldest first."""
        return self.evaluator.history

    def evaluate(self) -> list[StateChange]:
        """Evaluate every alarm now (advance() does this at each minute boundary)."""
        changes = self.evaluator.evaluate(self.clock.now())
        for change in changes:
            for callback in self.on_change:
                callback(change)
        return changes

    def advance(self, seconds: float) -> list[StateChange]:
        """Move simulated time forward, firing schedules and evaluating alarms on the way."""
        target = self.clock.now() + timedelta(seconds=seconds)
        changes: list[StateChange] = []
        while self.clock.now() < target:
            now = self.clock.now()
            boundary = datetime.fromtimestamp(
                (now.timestamp() // EVALUATION_INTERVAL + 1) * EVALUATION_INTERVAL, UTC
            )
            step_end = min(boundary, target)
            for spec in self.stack.schedules:
                for when in spec.occurrences(self.stack.created_at or now, now, step_end):
                    self.clock.advance_to(when)
                    self.stack.fire(spec, when)
                    self.fired.append((spec, when))
            self.clock.advance_to(step_end)
            if step_end == boundary:
                changes.extend(self.evaluate())
        return changes


@contextlib.contextmanager
def running(
    parameters: Mapping[str, Any] | None = None,
    *,
    template: Mapping[str, Any] | None = None,
    stack_name: str = "bedrock-watch",
    start: datetime | None = None,
    scale: float = 60.0,
    foreach_hook: ForEachHook | None = None,
    anomaly: AnomalyModel | None = None,
    include_alarm_tags: bool = False,
) -> Iterator[Sandbox]:
    """Start moto (executing Step Functions), the shims and the metric store; create the stack."""
    from sandbox.shims import emulated_aws

    if start is None:
        start = datetime.now(UTC).replace(second=0, microsecond=0) - DEFAULT_LEAD
    clock = SimClock(start=start, scale=scale)
    store = MetricStore(clock.now)
    with emulated_aws() as invocations, store.attach():
        stack = Stack(
            template,
            stack_name=stack_name,
            parameters=parameters,
            foreach_hook=foreach_hook,
            now=clock.now,
        ).create()
        reason = stack.rollback_reason()
        if reason:
            # CloudFormation rolls such a stack back: nothing to run the drill against
            raise StackError(f"stack {stack_name} failed to deploy: {reason}")
        evaluator = stack.evaluator(
            store, now=clock.now, anomaly=anomaly, include_alarm_tags=include_alarm_tags
        )
        yield Sandbox(clock, store, stack, evaluator, invocations)
