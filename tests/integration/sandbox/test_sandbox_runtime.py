"""The running sandbox: schedules and alarm evaluation follow the simulated clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from sandbox.runtime import running
from sandbox.template import load_yaml

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
FIXTURE = load_yaml(Path(__file__).with_name("fixture_template.yaml").read_text())


def test_an_hour_of_schedules_and_alarms_runs_on_the_simulated_clock() -> None:
    with running(template=FIXTURE, stack_name="fx", start=T0) as sb:
        seen: list[str] = []
        sb.on_change.append(lambda change: seen.append(f"{change.alarm}:{change.current.value}"))
        # When an hour passes: the 15-minute schedule runs the function, which spends $1.50
        sb.advance(3600)
        # Then the function ran at 19:15, 19:30, 19:45 and 20:00 with those times as input
        assert [when.strftime("%H:%M") for _, when in sb.fired] == ["19:15", "19:30", "19:45", "20:00"]
        emitter = [i for i in sb.invocations if i.function_name == sb.stack.function_name("Emitter")]
        assert emitter[0].event == {"scheduledTime": "2026-11-26T19:15:00Z"}
        # and the spend alarm (> $1 a minute) fired at 19:16 (evaluating 19:15). It clears only at
        # 19:19: missing minutes are not evaluated while the 19:15 datapoint is still within the
        # 3-period evaluation range (CloudWatch's documented re-evaluation of the last datapoints)
        spend = [(c.current.timestamp, c.current.value) for c in sb.changes if c.alarm == "fx-spend"]
        assert spend[:3] == [
            (T0 + timedelta(minutes=1), "OK"),
            (T0 + timedelta(minutes=16), "ALARM"),
            (T0 + timedelta(minutes=19), "OK"),
        ]
        assert "fx-spend:ALARM" in seen
        # and the EventBridge rule delivered each change to its queue
        sqs = boto3.client("sqs")
        bodies = []
        while messages := sqs.receive_message(
            QueueUrl=sb.stack.physical_id("Inbox"), MaxNumberOfMessages=10
        ).get("Messages"):
            bodies += [json.loads(m["Body"]) for m in messages]
            sqs.delete_message_batch(
                QueueUrl=sb.stack.physical_id("Inbox"),
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        assert len(bodies) == len(sb.changes)
