"""A new deployment pages nobody for its own start-up: the budget guard's staleness alarm from
template.yaml, evaluated as CloudWatch would (sandbox.alarms), cannot fire before the guard's
first run, and still catches a guard that stops publishing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sandbox.alarms import ALARM, INSUFFICIENT, OK, AlarmEvaluator
from sandbox.clock import SimClock
from sandbox.metrics import MetricStore
from sandbox.stack import template_alarms

START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
STALE = "bedrock-watch.budget-metrics-stale"


def _staleness() -> tuple[SimClock, MetricStore, AlarmEvaluator]:
    metric, _, _ = template_alarms()
    clock = SimClock(start=START, scale=60)
    store = MetricStore(clock.now)
    [alarm] = [a for a in metric if a.name == STALE]
    return clock, store, AlarmEvaluator([alarm], [], store, now=clock.now, update_moto=False)


def _run_guard(store: MetricStore, at: datetime) -> None:
    store.seed("BedrockWatch", "MonthToDateSpendUSD", 12.5, timestamp=at)


def test_a_fresh_stack_whose_guard_has_not_run_yet_pages_nobody() -> None:
    # Given a stack just deployed: no MonthToDateSpendUSD has ever been published
    _, _, evaluator = _staleness()

    # When its alarms are evaluated every minute for the guard's first half hour
    changes = [c for minute in range(1, 31) for c in evaluator.evaluate(START + timedelta(minutes=minute))]

    # Then the staleness alarm never went to ALARM: it waits for a first run
    assert [c.current.value for c in changes] == []
    assert evaluator.state(STALE) == INSUFFICIENT


def test_the_guards_first_run_makes_it_ok_and_an_hour_of_silence_after_that_alarms() -> None:
    _, store, evaluator = _staleness()
    # Given the guard ran every 15 minutes for an hour, then stopped
    for run in range(5):
        _run_guard(store, START + timedelta(minutes=15 * run, seconds=5))
    states = {}
    for minute in range(1, 181):
        evaluator.evaluate(START + timedelta(minutes=minute))
        states[minute] = evaluator.state(STALE)

    # Then the alarm was OK while it ran, went to ALARM an hour after its last run, and stays there
    assert states[30] == OK
    assert states[75] == OK  # last run at 1:00, less than an hour ago
    first_alarm = min(m for m, s in states.items() if s == ALARM)
    assert 60 + 60 <= first_alarm <= 60 + 75
    assert all(states[m] == ALARM for m in range(first_alarm, 181))


def test_the_guard_publishing_again_clears_it() -> None:
    _, store, evaluator = _staleness()
    _run_guard(store, START + timedelta(seconds=5))
    for minute in range(1, 100):
        evaluator.evaluate(START + timedelta(minutes=minute))
    assert evaluator.state(STALE) == ALARM

    _run_guard(store, START + timedelta(minutes=100))
    for minute in range(100, 125):
        evaluator.evaluate(START + timedelta(minutes=minute))

    assert evaluator.state(STALE) == OK
