"""Custom::Routes: create the declared routes in SSM, keep live remediations across stack updates."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.custom_resource import respond
from bedrock_watch.profiles import ProfileResolver
from bedrock_watch.routes import RouteStore, sync_routes

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    # Always answer CloudFormation, or the stack waits an hour for a reply that never comes.
    with respond(event) as reply:
        props = event["ResourceProperties"]
        store = RouteStore(props["Prefix"], props["StateTable"])
        # The probe may invoke an application inference profile only with the model it wraps
        # (a Delete resolves nothing, so a broken map can never block removing the stack).
        resolve = None
        if event["RequestType"] != "Delete":
            resolve = ProfileResolver(json.loads(props.get("InferenceProfileMap") or "{}")).resolve
        reply.data = sync_routes(
            store,
            request_type=event["RequestType"],
            declarations=props["Routes"],
            old_declarations=(event.get("OldResourceProperties") or {}).get("Routes"),
            partition=props["Partition"],
            region=props["Region"],
            account=props["Account"],
            at=datetime.now(UTC).isoformat(timespec="seconds"),
            resolve=resolve,
        )
        reply.physical_id = props["Prefix"]
        arns = reply.data.get("InvokeArns", "")
        logger.info(
            "routes synced", request=event["RequestType"], probe_resources=len(arns.split(",")) if arns else 0
        )
