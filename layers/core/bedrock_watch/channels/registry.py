"""Build a channel from a policy reference (`slack:devops`) and the vendor secret.

The vendor secret (Secrets Manager, created by the stack with empty placeholders) is JSON:

    {"slack":     {"webhooks": {"default": "https://hooks.slack.com/services/..."}, "signingSecret": "...",
                   "botToken": "xoxb-... (optional: threads)", "channels": {"devops": "C0123456789"}},
     "pagerduty": {"routingKeys": {"default": "<32-char integration key>"}, "webhookSecret": "...",
                   "eventsUrl": "https://events.pagerduty.com/v2/enqueue"},
     "jsm":       {"apiKeys": {"default": "..."}, "alertsUrl": "https://api.atlassian.com/jsm/ops/integration/v2/alerts"},
     "servicenow": {"instanceUrl": "https://<instance>.service-now.com", "username": "...",
                    "password": "...", "assignmentGroups": {"devops": "..."},
                    "closeCode": "Solution provided", "webhookSecret": "..."}}

A reference whose URL or key is missing or empty builds a channel that raises ChannelNotConfigured
on send, so the gap is recorded on the incident and reported like any other failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bedrock_watch.channels import Channel, ChannelNotConfigured
from bedrock_watch.channels.http import HttpClient
from bedrock_watch.channels.jsm import ALERTS_URL, JsmChannel
from bedrock_watch.channels.pagerduty import EVENTS_URL, PagerDutyChannel
from bedrock_watch.channels.servicenow import DEFAULT_CLOSE_CODE, ServiceNowChannel
from bedrock_watch.channels.slack import API_URL, SlackApiChannel, SlackChannel
from bedrock_watch.channels.sns import SnsChannel
from bedrock_watch.pages import Message
from bedrock_watch.policy import parse_channel

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient


class _Unconfigured:
    def __init__(self, name: str, missing: str) -> None:
        self.name = name
        self._missing = missing

    def send(self, message: Message, ref: Mapping[str, str] | None = None) -> dict[str, str] | None:
        raise ChannelNotConfigured(
            f"{self.name}: {self._missing} is not set in the escalation channel secret"
        )


def _section(secret: dict[str, Any], vendor: str) -> dict[str, Any]:
    section = secret.get(vendor)
    return section if isinstance(section, dict) else {}


def _value(section: dict[str, Any], key: str, target: str) -> str:
    values = section.get(key)
    value = values.get(target) if isinstance(values, dict) else None
    return value if isinstance(value, str) else ""


@dataclass
class ChannelFactory:
    """Turns channel references into channels, sharing one HTTP client and one SNS client."""

    secret: dict[str, Any]
    sns: SNSClient
    topic_arn: str
    http: HttpClient = field(default_factory=HttpClient)
    source: str = "bedrock-watch"

    def build(self, ref: str) -> Channel:
        """The channel a policy reference names."""
        kind, target = parse_channel(ref)
        if kind == "sns":
            return SnsChannel(self.sns, self.topic_arn, target)
        if kind == "servicenow":
            return self._servicenow(ref, target)
        if kind == "slack":
            slack = _section(self.secret, "slack")
            token, channel = slack.get("botToken"), _value(slack, "channels", target)
            if isinstance(token, str) and token and channel:
                url = str(slack.get("apiUrl") or API_URL)
                return SlackApiChannel(token, channel, target, api_url=url, http=self.http)
        vendor_key = {"slack": "webhooks", "pagerduty": "routingKeys", "jsm": "apiKeys"}[kind]
        section = _section(self.secret, kind)
        value = _value(section, vendor_key, target)
        if not value:
            return _Unconfigured(ref, f"{kind}.{vendor_key}.{target}")
        if kind == "slack":
            return SlackChannel(value, target, http=self.http)
        if kind == "pagerduty":
            url = str(section.get("eventsUrl") or EVENTS_URL)
            return PagerDutyChannel(value, target, events_url=url, source=self.source, http=self.http)
        return JsmChannel(
            value, target, alerts_url=str(section.get("alertsUrl") or ALERTS_URL), http=self.http
        )

    def _servicenow(self, ref: str, target: str) -> Channel:
        section = _section(self.secret, "servicenow")
        fields = {k: section.get(k) for k in ("instanceUrl", "username", "password")}
        missing = [k for k, v in fields.items() if not isinstance(v, str) or not v]
        if missing:
            return _Unconfigured(ref, f"servicenow.{missing[0]}")
        return ServiceNowChannel(
            str(fields["instanceUrl"]),
            str(fields["username"]),
            str(fields["password"]),
            target,
            assignment_group=_value(section, "assignmentGroups", target),
            close_code=str(section.get("closeCode") or DEFAULT_CLOSE_CODE),
            http=self.http,
        )


def signing_secret(secret: dict[str, Any], vendor: str, key: str) -> str:
    """A webhook-verification secret (Slack signingSecret, PagerDuty webhookSecret); empty if unset."""
    value = _section(secret, vendor).get(key)
    return value if isinstance(value, str) else ""
