"""Function URL behind the approve/reject links: GET shows a confirmation, POST decides.

The URL is public: every request gets a status. Unreadable input is a 400, a bad link a 403, a
decision that is no longer needed a 409 — each counted as a refusal (bedrock_watch.webrequest) —
and an unexpected error a 500 with the details in the log, never an unhandled exception.
"""

from __future__ import annotations

import html
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch.approvals import ApprovalNotPending, check_link, confirmation_page, decide, page
from bedrock_watch.config import env_str
from bedrock_watch.secretstore import SecretCache
from bedrock_watch.signing import InvalidSignature
from bedrock_watch.webrequest import BadRequest, Refusals, Request

logger = Logger()
STATE_TABLE = env_str("STATE_TABLE")
SECRET_ARN = env_str("LINK_SECRET_ARN")
REFUSALS = Refusals(env_str("METRICS_NAMESPACE", "BedrockWatch"))
DYNAMODB = boto3.client("dynamodb")
SFN = boto3.client("stepfunctions")
SECRETS = SecretCache()


def _refused(status: int, title: str, reason: str, request: Request | None) -> dict[str, Any]:
    REFUSALS.record(endpoint="approval", reason=reason, source=request.source_ip if request else "")
    logger.warning("approval link refused", status=status, reason=reason[:200])
    return page(title, f"<p>{html.escape(reason)}</p>", status=status)


def handle(event: dict[str, Any]) -> dict[str, Any]:
    """Answer one function-URL request with a status, whatever it holds."""
    request: Request | None = None
    try:
        request = Request.from_function_url(event)
        fields = request.fields()
        decision, token = fields.get("decision", ""), fields.get("token", "")
        secret = SECRETS.text(SECRET_ARN).encode()
        if request.method != "POST":
            check_link(secret, token, decision)
            return confirmation_page(decision, token)
        result = decide(
            dynamodb=DYNAMODB,
            sfn=SFN,
            table_name=STATE_TABLE,
            secret=secret,
            token=token,
            decision=decision,
            decided_by=f"signed link from {request.source_ip or '?'}",
        )
    except BadRequest as err:
        return _refused(400, "Bad request", str(err), request)
    except InvalidSignature as err:
        return _refused(403, "Link refused", str(err), request)
    except ApprovalNotPending as err:
        return _refused(409, "Nothing to decide", str(err), request)
    except Exception:
        logger.exception("approval link failed")
        # decide() puts a taken approval back when Step Functions did not take the answer
        return page(
            "Something went wrong",
            "<p>The request could not be handled; it was logged. The link still works: try again.</p>",
            status=500,
        )
    logger.info("approval decided", decision=result.decision, execution=result.execution, route=result.route)
    verb = "Approved" if result.decision == "approve" else "Rejected"
    text = f"{verb}: route {result.route} to {result.target} ({result.execution})."
    return page(verb, f"<p>{html.escape(text)}</p>")


# Never log the event: the token in it is a bearer credential until used.
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event if isinstance(event, dict) else {})
