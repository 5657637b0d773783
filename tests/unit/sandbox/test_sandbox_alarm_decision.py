"""The alarm decision against the CloudWatch user guide's missing-data tables, row by row.

Source: "How alarm state is evaluated when data is missing" (Amazon CloudWatch user guide).
Data points are written oldest first: 0 = not breaching, X = breaching, - = missing. The
evaluation range is 5 datapoints for EvaluationPeriods = 3, as in the guide.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sandbox.alarms import ALARM, INSUFFICIENT, OK, Datapoint, decide

T0 = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)


def points(pattern: str) -> list[Datapoint]:
    out = []
    for i, mark in enumerate(pattern.split()):
        when = T0 + timedelta(minutes=i)
        if mark == "-":
            out.append(Datapoint(when, None))
        else:
            out.append(Datapoint(when, 1.0 if mark == "X" else 0.0, breaching=mark == "X"))
    return out


RETAIN = "retain"

# (data points, MISSING, IGNORE, BREACHING, NOT BREACHING) — 3 of 3
THREE_OF_THREE = [
    ("0 - X - X", OK, OK, OK, OK),
    ("0 - - - -", OK, OK, OK, OK),
    ("- - - - -", INSUFFICIENT, RETAIN, ALARM, OK),
    ("0 X X - X", ALARM, ALARM, ALARM, ALARM),
    ("- - - - X", INSUFFICIENT, RETAIN, ALARM, OK),
    ("X - - - -", ALARM, RETAIN, ALARM, OK),
]
# 2 of 3
TWO_OF_THREE = [
    ("0 - X - X", ALARM, ALARM, ALARM, ALARM),
    ("0 0 X 0 X", ALARM, ALARM, ALARM, ALARM),
    ("0 - X - -", OK, OK, ALARM, OK),
    ("- - - - 0", OK, OK, ALARM, OK),
    ("- - - - X", INSUFFICIENT, RETAIN, ALARM, OK),
]
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")


def _cases(table: list[tuple[str, str, str, str, str]], m: int) -> list[tuple[str, int, str, str]]:
    return [
        (row[0], m, treat, expected)
        for row in table
        for treat, expected in zip(TREATMENTS, row[1:], strict=True)
    ]


@pytest.mark.parametrize(
    ("pattern", "m", "treat", "expected"), _cases(THREE_OF_THREE, 3) + _cases(TWO_OF_THREE, 2)
)
@pytest.mark.parametrize("current", [OK, ALARM])
def test_decision_matches_the_cloudwatch_table(
    pattern: str, m: int, treat: str, expected: str, current: str
) -> None:
    # Given the five most recent datapoints of an M-of-3 alarm currently in `current`
    # When the alarm is evaluated with the missing-data treatment
    decision = decide(points(pattern), n=3, m=m, treat=treat, current=current)
    # Then the state is the one the user guide's table gives ("retain" = the current state)
    assert decision.state == (current if expected == RETAIN else expected)


def test_enough_real_datapoints_ignore_the_treatment_and_use_the_most_recent() -> None:
    # Given 4 real datapoints, the oldest breaching, the 3 most recent not
    pattern = points("X 0 0 - 0")
    # When evaluated as 1 of 3 with missing treated as breaching
    decision = decide(pattern, n=3, m=1, treat="breaching", current=ALARM)
    # Then only the 3 most recent real datapoints count, none breaching, no fill used
    assert decision.state == OK
    assert [p.value for p in decision.evaluated] == [0.0, 0.0, 0.0]
    assert decision.filled == 0


def test_missing_datapoints_are_filled_as_few_times_as_possible() -> None:
    decision = decide(points("- - 0 - X"), n=3, m=3, treat="breaching", current=OK)
    # two real datapoints + one fill: 2 breaching of 3 needed -> OK
    assert decision.state == OK
    assert decision.filled == 1
    assert decision.filled_breaching


def test_an_unknown_treatment_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="TreatMissingData 'sometimes'"):
        decide(points("X X X"), n=3, m=3, treat="sometimes", current=OK)
