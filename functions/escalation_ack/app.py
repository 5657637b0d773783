"""Acknowledge endpoint (Lambda function URL) and console input.

Routes: GET /ack (signed link: confirmation form), POST /ack (the form), POST /slack/actions
(interactive button, Slack signature verified), POST /pagerduty/webhook (v3 incident.acknowledged,
signature verified), POST /servicenow/webhook (signed by the Business Rule). A direct invoke with
{"incidentId", "acknowledgedBy"} is the console path.

The URL is public, so every request gets a status: unreadable input 400, a bad signature or
link 403, an unknown route 404 — each counted as a refusal (bedrock_watch.webrequest) — and
an unexpected error 500 with the details in the log, never an unhandled exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch import ackweb, webhooks
from bedrock_watch.channels.registry import signing_secret
from bedrock_watch.channels.slack import mrkdwn
from bedrock_watch.escalation import build
from bedrock_watch.incidents import IncidentNotFound
from bedrock_watch.signing import InvalidSignature
from bedrock_watch.webrequest import BadRequest, Request, json_response, response

logger = Logger()
ENGINE = build()


def _html(status: int, title: str, message: str, form: dict[str, str] | None = None) -> dict[str, Any]:
    return response(status, ackweb.page(title, message, form))


def _vendor_secret(vendor: str, key: str) -> str:
    return signing_secret(ENGINE.channel_secret(), vendor, key)


def confirm(request: Request) -> dict[str, Any]:
    incident = request.query.get("incident", "")
    token = request.query.get("token", "")
    closed = ENGINE.check_link(incident, token)
    if closed is not None:
        return _html(200, "Nothing to do", closed.message)
    return _html(
        200,
        f"Acknowledge incident {incident}?",
        "This stops paging further tiers.",
        {"incident": incident, "token": token},
    )


def acknowledge_link(request: Request) -> dict[str, Any]:
    form = request.form()
    by = form.get("by", "").strip() or "anonymous link holder"
    result = ENGINE.acknowledge(form.get("incident", ""), by=by, via="link", token=form.get("token", ""))
    return _html(200, "Acknowledged" if result.acknowledged else "Nothing to do", result.message)


def slack_action(request: Request) -> dict[str, Any]:
    webhooks.verify_slack(_vendor_secret("slack", "signingSecret"), request.headers, request.body)
    press = ackweb.slack_ack(request.text())
    if press is None:
        return json_response(200, {"text": "Nothing to do."})
    result = ENGINE.acknowledge("", by=press.user, via="slack", token=press.token)
    return json_response(
        200, {"response_type": "in_channel", "replace_original": False, "text": mrkdwn(result.message)}
    )


def _vendor_ack(ack: tuple[str, str] | None, via: str) -> dict[str, Any]:
    """Acknowledge on a verified vendor's word; 2xx for anything not ours, so it does not retry."""
    if ack is None:
        return json_response(200, {"ignored": True})
    try:
        result = ENGINE.acknowledge(ack[0], by=ack[1], via=via)
    except IncidentNotFound:
        # An incident we did not open: answer 2xx so the vendor does not retry it.
        return json_response(200, {"ignored": True})
    return json_response(200, {"acknowledged": result.acknowledged, "status": result.status})


def pagerduty_webhook(request: Request) -> dict[str, Any]:
    webhooks.verify_pagerduty(_vendor_secret("pagerduty", "webhookSecret"), request.headers, request.body)
    return _vendor_ack(ackweb.pagerduty_ack(request.json()), "pagerduty")


def servicenow_webhook(request: Request) -> dict[str, Any]:
    webhooks.verify_servicenow(_vendor_secret("servicenow", "webhookSecret"), request.headers, request.body)
    return _vendor_ack(ackweb.servicenow_ack(request.json()), "servicenow")


ROUTES: dict[tuple[str, str], Callable[[Request], dict[str, Any]]] = {
    ("GET", "/ack"): confirm,
    ("POST", "/ack"): acknowledge_link,
    ("POST", "/slack/actions"): slack_action,
    ("POST", "/pagerduty/webhook"): pagerduty_webhook,
    ("POST", "/servicenow/webhook"): servicenow_webhook,
}


def _refused(status: int, title: str, reason: str, endpoint: str, source: str) -> dict[str, Any]:
    ENGINE.refusals.record(endpoint=endpoint, reason=reason, source=source)
    logger.warning("request refused", endpoint=endpoint, status=status, reason=reason[:200])
    return _html(status, title, reason)


def handle(event: dict[str, Any]) -> dict[str, Any]:
    """Answer one function-URL request with a status, whatever it holds."""
    try:
        request = Request.from_function_url(event)
    except BadRequest as err:
        return _refused(400, "Bad request", str(err), "request", "")
    endpoint, source = request.path[:100], request.source_ip
    route = ROUTES.get((request.method, request.path))
    if route is None:
        return _refused(404, "Not found", "no such endpoint", endpoint, source)
    try:
        return route(request)
    except BadRequest as err:
        return _refused(400, "Bad request", str(err), endpoint, source)
    except InvalidSignature as err:
        return _refused(403, "Acknowledgement refused", str(err), endpoint, source)
    except IncidentNotFound as err:
        return _refused(404, "No such incident", str(err), endpoint, source)
    except Exception:
        logger.exception("acknowledge endpoint failed", endpoint=endpoint)
        return _html(500, "Something went wrong", "The request could not be handled; it was logged.")


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and "requestContext" in event:
        return handle(event)
    result = ENGINE.acknowledge(str(event["incidentId"]), by=str(event["acknowledgedBy"]), via="console")
    return {
        "incidentId": result.incident_id,
        "acknowledged": result.acknowledged,
        "status": result.status,
        "message": result.message,
    }
