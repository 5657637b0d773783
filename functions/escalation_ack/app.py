"""Acknowledge endpoint (Lambda function URL) and console input.

Routes: GET /ack (signed link: confirmation form), POST /ack (the form), POST /slack/actions
(interactive button, Slack signature verified), POST /pagerduty/webhook (v3 incident.acknowledged,
signature verified). A direct invoke with {"incidentId", "acknowledgedBy"} is the console path.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from bedrock_watch import ackweb, webhooks
from bedrock_watch.channels.registry import signing_secret
from bedrock_watch.escalation import build
from bedrock_watch.incidents import IncidentNotFound
from bedrock_watch.signing import InvalidSignature

logger = Logger()
ENGINE = build()
app = LambdaFunctionUrlResolver()


def _html(status: int, title: str, message: str, form: dict[str, str] | None = None) -> Response[str]:
    return Response(status, content_types.TEXT_HTML, ackweb.page(title, message, form))


def _source() -> str:
    return str(app.current_event.request_context.http.source_ip or "")


def _vendor_secret(vendor: str, key: str) -> str:
    return signing_secret(ENGINE.channel_secret(), vendor, key)


@app.exception_handler(InvalidSignature)
def refused(err: InvalidSignature) -> Response[str]:
    return _html(403, "Acknowledgement refused", str(err))


@app.exception_handler(IncidentNotFound)
def unknown_incident(err: IncidentNotFound) -> Response[str]:
    return _html(404, "No such incident", str(err))


@app.get("/ack")
def confirm() -> Response[str]:
    incident = app.current_event.get_query_string_value("incident", "") or ""
    token = app.current_event.get_query_string_value("token", "") or ""
    closed = ENGINE.check_link(incident, token, source=_source())
    if closed is not None:
        return _html(200, "Nothing to do", closed.message)
    return _html(
        200,
        f"Acknowledge incident {incident}?",
        "This stops paging further tiers.",
        {"incident": incident, "token": token},
    )


@app.post("/ack")
def acknowledge_link() -> Response[str]:
    form = ackweb.parse_form(app.current_event.decoded_body or "")
    by = form.get("by", "").strip() or "anonymous link holder"
    result = ENGINE.acknowledge(
        form.get("incident", ""), by=by, via="link", token=form.get("token", ""), source=_source()
    )
    return _html(200, "Acknowledged" if result.acknowledged else "Nothing to do", result.message)


@app.post("/slack/actions")
def slack_action() -> dict[str, Any]:
    body = app.current_event.decoded_body or ""
    webhooks.verify_slack(_vendor_secret("slack", "signingSecret"), app.current_event.headers, body.encode())
    press = ackweb.slack_ack(body)
    if press is None:
        return {"text": "Nothing to do."}
    result = ENGINE.acknowledge("", by=press.user, via="slack", token=press.token, source="slack")
    return {"response_type": "in_channel", "replace_original": False, "text": result.message}


@app.post("/pagerduty/webhook")
def pagerduty_webhook() -> dict[str, Any]:
    body = app.current_event.decoded_body or ""
    webhooks.verify_pagerduty(
        _vendor_secret("pagerduty", "webhookSecret"), app.current_event.headers, body.encode()
    )
    ack = ackweb.pagerduty_ack(body)
    if ack is None:
        return {"ignored": True}
    try:
        result = ENGINE.acknowledge(ack[0], by=ack[1], via="pagerduty", source="pagerduty")
    except IncidentNotFound:
        # A PagerDuty incident we did not open: answer 2xx so PagerDuty does not retry it.
        return {"ignored": True}
    return {"acknowledged": result.acknowledged, "status": result.status}


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "requestContext" in event:
        return app.resolve(event, context)
    result = ENGINE.acknowledge(str(event["incidentId"]), by=str(event["acknowledgedBy"]), via="console")
    return {
        "incidentId": result.incident_id,
        "acknowledged": result.acknowledged,
        "status": result.status,
        "message": result.message,
    }
