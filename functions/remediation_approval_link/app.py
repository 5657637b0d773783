"""Function URL behind the approve/reject links: GET shows a confirmation, POST decides."""

from __future__ import annotations

import base64
import html
from typing import Any
from urllib.parse import parse_qs

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.approvals import ApprovalNotPending, check_link, confirmation_page, decide, page
from bedrock_watch.config import env_str
from bedrock_watch.secretstore import SecretCache
from bedrock_watch.signing import InvalidSignature

logger = Logger()
STATE_TABLE = env_str("STATE_TABLE")
SECRET_ARN = env_str("LINK_SECRET_ARN")
DYNAMODB = boto3.client("dynamodb")
SFN = boto3.client("stepfunctions")
SECRETS = SecretCache()


def _fields(event: dict[str, Any]) -> dict[str, str]:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return {**(event.get("queryStringParameters") or {}), **{k: v[0] for k, v in parse_qs(body).items()}}


# Never log the event: the token in it is a bearer credential until used.
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    fields = _fields(event)
    decision, token = fields.get("decision", ""), fields.get("token", "")
    http = event.get("requestContext", {}).get("http", {})
    secret = SECRETS.text(SECRET_ARN).encode()
    try:
        if http.get("method", "GET") != "POST":
            check_link(secret, token, decision)
            return confirmation_page(decision, token)
        result = decide(
            dynamodb=DYNAMODB,
            sfn=SFN,
            table_name=STATE_TABLE,
            secret=secret,
            token=token,
            decision=decision,
            decided_by=f"signed link from {http.get('sourceIp', '?')}",
        )
    except InvalidSignature as err:
        logger.warning("approval link refused", reason=str(err))
        return page("Link refused", f"<p>{html.escape(str(err))}</p>", status=403)
    except ApprovalNotPending as err:
        return page("Nothing to decide", f"<p>{html.escape(str(err))}</p>", status=409)
    logger.info("approval decided", decision=result.decision, execution=result.execution, route=result.route)
    verb = "Approved" if result.decision == "approve" else "Rejected"
    text = f"{verb}: route {result.route} to {result.target} ({result.execution})."
    return page(verb, f"<p>{html.escape(text)}</p>")
