"""Step Functions tasks of the escalation workflow: pick the next step of the incident's plan, wait
for it (on a task token), page a step (waiting on a task token), or send the final notice; and,
on a one-minute schedule, the digest sweep (each channel's notices held in an alarm storm)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.escalation import build

logger = Logger()
ENGINE = build()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = event.get("action")
    if action == "digests":
        return ENGINE.send_digests()
    incident_id = str(event["incidentId"])
    if action == "next":
        return ENGINE.next_step(incident_id, event.get("cursor") or {})
    if action == "hold":
        return ENGINE.hold(incident_id, int(event["planVersion"]), event["taskToken"])
    if action == "final":
        return ENGINE.final_notice(incident_id, int(event.get("planVersion") or 1))
    return ENGINE.page(incident_id, event["step"], event["taskToken"], int(event.get("planVersion") or 1))
