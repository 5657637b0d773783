"""The escalation engine's domain operations, one per handler and Step Functions task.

- open_incident: alarm event -> incident (deduplicated) + the paging plan the state machine walks
- page: page one step of the plan, remembering the execution's task token so an acknowledgement
  stops the wait at once; a failed channel is recorded and reported to the tier's other channels
- final_notice: escalation exhausted, the incident stays open and unacknowledged
- acknowledge: signed link, Slack button, PagerDuty webhook or console -> stop escalation
- resolve_alarm: the alarm is OK again -> resolve, stop escalation, tell every channel paged
- record_remediation: a remediation finished -> the incident's timeline
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from bedrock_watch import signing
from bedrock_watch.channels import ChannelError, PageNotDelivered
from bedrock_watch.channels.http import HttpClient
from bedrock_watch.channels.registry import ChannelFactory
from bedrock_watch.config import env_int, env_str
from bedrock_watch.contract import SEVERITIES, SIGNAL_COMPOSITE_INPUT, TAG_SEVERITY, TAG_SIGNAL
from bedrock_watch.errors import BedrockWatchError
from bedrock_watch.incidents import (
    ACKNOWLEDGED,
    OPEN,
    IncidentClosed,
    IncidentStore,
    event_epoch,
    incident_id_for,
)
from bedrock_watch.pages import (
    Kind,
    Message,
    PageContext,
    composite_children,
    context_from_alarm,
    input_lines,
    render,
)
from bedrock_watch.policy import parse_policy, plan
from bedrock_watch.webrequest import Refusals

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient

logger = Logger(child=True)

ACK_PURPOSE = "ack"
# SendTaskSuccess errors meaning the wait is over already (AWS: "the task token has either expired or
# the task associated with the token has already been closed").
TASK_ALREADY_CLOSED = frozenset({"TaskTimedOut", "TaskDoesNotExist"})
DEFAULT_SEVERITY = "warning"


class InvalidAlarmEvent(BedrockWatchError):
    """The input is not a "CloudWatch Alarm State Change" event into ALARM."""


@dataclass(frozen=True, slots=True)
class EscalationSettings:
    table_name: str
    topic_arn: str
    channel_secret_id: str
    link_secret_id: str
    ack_url: str
    policy_document: str
    dashboard_name: str
    runbook_base_url: str
    metrics_namespace: str
    link_ttl_seconds: int
    retention_days: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EscalationSettings:
        """Read once at cold start; ConfigurationError names a missing variable."""
        e = environ
        return cls(
            table_name=env_str("INCIDENTS_TABLE", environ=e),
            topic_arn=env_str("ESCALATION_TOPIC_ARN", environ=e),
            channel_secret_id=env_str("CHANNEL_SECRET_ARN", environ=e),
            link_secret_id=env_str("LINK_SIGNING_SECRET_ARN", environ=e),
            ack_url=env_str("ACK_URL", "", environ=e),
            policy_document=env_str("ESCALATION_POLICY", "default", environ=e),
            dashboard_name=env_str("DASHBOARD_NAME", "", environ=e),
            runbook_base_url=env_str("RUNBOOK_BASE_URL", "", environ=e),
            metrics_namespace=env_str("METRICS_NAMESPACE", "BedrockWatch", environ=e),
            link_ttl_seconds=env_int("ACK_LINK_TTL_HOURS", 24, minimum=1, environ=e) * 3600,
            retention_days=env_int("INCIDENT_RETENTION_DAYS", 90, minimum=1, environ=e),
        )


@dataclass(frozen=True, slots=True)
class AckResult:
    incident_id: str
    acknowledged: bool  # False: it was already acknowledged/resolved (not an error)
    status: str
    by: str
    message: str


class Escalation:
    """The engine, wired to its store, AWS clients and secrets (all injectable)."""

    def __init__(
        self,
        settings: EscalationSettings,
        *,
        store: IncidentStore,
        channel_secret: Callable[[], dict[str, Any]],
        link_secret: Callable[[], bytes],
        cloudwatch: CloudWatchClient | None = None,
        sfn: SFNClient | None = None,
        sns: SNSClient | None = None,
        http: HttpClient | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.channel_secret = channel_secret
        self._link_secret = link_secret
        self._cloudwatch = cloudwatch
        self._sfn = sfn
        self._sns = sns
        self._http = http or HttpClient()
        self.refusals = Refusals(settings.metrics_namespace)

    # ---------------------------------------------------------------- AWS helpers
    def _cw(self) -> CloudWatchClient:
        if self._cloudwatch is None:
            import boto3

            self._cloudwatch = boto3.client("cloudwatch")
        return self._cloudwatch

    def _channels(self) -> ChannelFactory:
        if self._sns is None:
            import boto3

            self._sns = boto3.client("sns")
        return ChannelFactory(self.channel_secret(), self._sns, self.settings.topic_arn, self._http)

    def _states(self) -> SFNClient:
        if self._sfn is None:
            import boto3

            self._sfn = boto3.client("stepfunctions")
        return self._sfn

    def _alarm_tags(self, alarm_arn: str) -> dict[str, str]:
        if not alarm_arn:
            return {}
        try:
            tags = self._cw().list_tags_for_resource(ResourceARN=alarm_arn).get("Tags", [])
        except (ClientError, BotoCoreError) as err:
            # Page anyway: a page without tags (default severity) beats no page.
            logger.warning("could not read alarm tags", alarm=alarm_arn, error=str(err))
            return {}
        return {t["Key"]: t["Value"] for t in tags}

    def _burn_rate(self) -> float | None:
        now = datetime.now(UTC)
        try:
            result = self._cw().get_metric_data(
                MetricDataQueries=[
                    {
                        "Id": "burn",
                        "MetricStat": {
                            "Metric": {
                                "Namespace": self.settings.metrics_namespace,
                                "MetricName": "BurnRateUSDPerHour",
                            },
                            "Period": 900,
                            "Stat": "Maximum",
                        },
                    }
                ],
                StartTime=now - timedelta(hours=3),
                # one period past now, so the period still being filled is included
                EndTime=now + timedelta(seconds=900),
                ScanBy="TimestampDescending",
            )
        except (ClientError, BotoCoreError) as err:
            logger.warning("could not read the burn rate", error=str(err))
            return None
        values = result["MetricDataResults"][0].get("Values", []) if result["MetricDataResults"] else []
        return float(values[0]) if values else None

    def _child_states(self, names: list[str]) -> list[str]:
        """What the alarms of a composite's rule say now (a composite carries no values itself)."""
        try:
            found = self._cw().describe_alarms(AlarmNames=names[:100], AlarmTypes=["MetricAlarm"])
        except (ClientError, BotoCoreError) as err:
            logger.warning("could not read the composite's inputs", error=str(err))
            return []
        return input_lines([dict(a) for a in found.get("MetricAlarms", [])])

    # ---------------------------------------------------------------- open
    def open_incident(self, event: dict[str, Any]) -> dict[str, Any]:
        """Open the incident of an ALARM event; the state the escalation state machine carries."""
        detail = event.get("detail") if isinstance(event, dict) else None
        if not isinstance(detail, dict) or not detail.get("alarmName"):
            raise InvalidAlarmEvent(
                "input is not a CloudWatch Alarm State Change event (no detail.alarmName)"
            )
        state = detail.get("state") or {}
        if state.get("value") != "ALARM":
            raise InvalidAlarmEvent(f"alarm state is {state.get('value')!r}, not 'ALARM'")
        alarm_name = str(detail["alarmName"])
        alarm_arn = str((event.get("resources") or [""])[0])
        tags = self._alarm_tags(alarm_arn)
        if tags.get(TAG_SIGNAL) == SIGNAL_COMPOSITE_INPUT:
            logger.info("composite input, not paged on its own", alarm=alarm_name)
            return {
                "incident": {
                    "incidentId": "",
                    "opened": False,
                    "reason": "composite input: only the composite alarm it feeds pages",
                    "alarmName": alarm_name,
                },
                "cursor": {"index": 0},
            }
        severity = tags.get(TAG_SEVERITY, DEFAULT_SEVERITY)
        if severity not in SEVERITIES:
            logger.warning("unknown Severity tag, using the default", alarm=alarm_name, severity=severity)
            severity = DEFAULT_SEVERITY
        steps = [s.as_dict() for s in plan(parse_policy(self.settings.policy_document)[severity])]
        context = context_from_alarm(
            event,
            {**tags, TAG_SEVERITY: severity},
            dashboard_name=self.settings.dashboard_name,
            runbook_base_url=self.settings.runbook_base_url,
        )
        if context.budget_related:
            context = PageContext.from_dict(
                {**context.as_dict(), "burn_rate_usd_per_hour": self._burn_rate()}
            )
        children = composite_children(event)
        if children:
            context = PageContext.from_dict({**context.as_dict(), "inputs": self._child_states(children)})
        incident_id = incident_id_for(
            alarm_arn or alarm_name, str(state.get("timestamp") or event.get("time"))
        )
        outcome = self.store.open(
            incident_id=incident_id,
            alarm_name=alarm_name,
            severity=severity,
            context=context.as_dict(),
            steps=steps,
            alarm_at=event_epoch(state.get("timestamp") or event.get("time")),
        )
        logger.info("incident", incident=outcome.incident_id, opened=outcome.opened, reason=outcome.reason)
        return {
            "incident": {
                "incidentId": outcome.incident_id,
                "opened": outcome.opened,
                "reason": outcome.reason,
                "alarmName": alarm_name,
                "severity": severity,
                "steps": steps,
                "stepCount": len(steps),
                "firstDelaySeconds": steps[0]["atSeconds"],
            },
            "cursor": {"index": 0},
        }

    # ---------------------------------------------------------------- paging
    def ack_link(self, incident_id: str) -> tuple[str, str]:
        """(URL, token) of a fresh signed acknowledge link for the incident."""
        token = signing.sign(
            self._link_secret(),
            purpose=ACK_PURPOSE,
            subject=incident_id,
            ttl_seconds=self.settings.link_ttl_seconds,
        )
        if not self.settings.ack_url:
            return "", token
        query = urllib.parse.urlencode({"incident": incident_id, "token": token})
        return f"{self.settings.ack_url.rstrip('/')}/ack?{query}", token

    def _deliver(self, refs: list[str], message: Message) -> tuple[list[str], list[dict[str, str]]]:
        factory = self._channels()
        delivered: list[str] = []
        failures: list[dict[str, str]] = []
        for ref in refs:
            try:
                factory.build(ref).send(message)
            except ChannelError as err:
                logger.warning("channel failed", channel=ref, incident=message.incident_id, error=str(err))
                failures.append(
                    {"channel": ref, "error": f"{type(err).__name__}: {err}", "at": self.store.now()}
                )
            except Exception as err:
                # Not a failure mode the channel knows: still a failed delivery, never a lost page
                # (the tier's other channels are tried, told and the failure recorded).
                logger.exception("channel failed unexpectedly", channel=ref, incident=message.incident_id)
                failures.append(
                    {
                        "channel": ref,
                        "error": f"unexpected {type(err).__name__}: {err}"[:500],
                        "at": self.store.now(),
                    }
                )
            else:
                delivered.append(ref)
        return delivered, failures

    def _send_to_tier(self, incident: dict[str, Any], step: dict[str, Any], kind: Kind) -> None:
        ctx = PageContext.from_dict(incident["context"])
        url, token = self.ack_link(incident["incidentId"])
        message = render(
            ctx,
            kind=kind,
            incident_id=incident["incidentId"],
            tier=step["tier"],
            ack_url=url,
            ack_token=token,
        )
        delivered, failures = self._deliver(list(step["channels"]), message)
        if failures and delivered:
            # Tell the people who did get the page that some of their colleagues did not.
            note = "Could not page through: " + "; ".join(f"{f['channel']} ({f['error']})" for f in failures)
            notice = render(
                ctx,
                kind="channel_failure",
                incident_id=incident["incidentId"],
                tier=step["tier"],
                ack_url=url,
                ack_token=token,
                note=note,
            )
            self._deliver(delivered, notice)
        after = self.store.record_page(
            incident["incidentId"], step=step, kind=kind, delivered=delivered, failures=failures
        )
        if after["status"] != OPEN and delivered:
            # Acknowledged or resolved while this tier was being paged: the acknowledger told the
            # channels recorded before; these were recorded after, so they hear it from here.
            self._tell(after, delivered, *_closing_notice(after))
        logger.info(
            "paged tier",
            incident=incident["incidentId"],
            tier=step["tier"],
            kind=kind,
            delivered=delivered,
            failed=[f["channel"] for f in failures],
        )
        if not delivered:
            raise PageNotDelivered(
                f"tier {step['tier']} of incident {incident['incidentId']}: every channel failed ("
                + "; ".join(f"{f['channel']}: {f['error']}" for f in failures)
                + ")"
            )

    def page(self, incident_id: str, step: dict[str, Any], task_token: str) -> dict[str, Any]:
        """Page one step of the plan while the execution waits on `task_token` for an acknowledgement.

        IncidentClosed if it was acknowledged or resolved meanwhile; PageNotDelivered if every
        channel of the tier failed (recorded on the incident first).
        """
        incident = self.store.require(incident_id)
        self.store.register_task_token(incident_id, task_token)
        if any(
            p.get("kind") == "page" and p.get("index") == step["index"] and p.get("delivered")
            for p in incident.get("pagedTiers", [])
        ):
            # A retried task (Lambda service error after delivery): the tier already has the page.
            logger.info("tier already paged, not paging twice", incident=incident_id, tier=step["tier"])
            return {"incidentId": incident_id, "tier": step["tier"], "repeated": True}
        self._send_to_tier(incident, step, "page")
        return {"incidentId": incident_id, "tier": step["tier"]}

    def final_notice(self, incident_id: str) -> dict[str, Any]:
        """Escalation exhausted: tell the last tier; the incident stays open and unacknowledged."""
        incident = self.store.require(incident_id)
        if incident["status"] != "open":
            return {"incidentId": incident_id, "status": incident["status"]}
        self._send_to_tier(incident, incident["steps"][-1], "final")
        return {"incidentId": incident_id, "status": "open", "exhausted": True}

    # ---------------------------------------------------------------- closing
    def _stop_execution_wait(self, incident: dict[str, Any], outcome: dict[str, Any]) -> None:
        token = incident.get("taskToken")
        if not token:
            return
        try:
            self._states().send_task_success(taskToken=token, output=json.dumps(outcome))
        except ClientError as err:
            code = err.response["Error"]["Code"]
            if code in TASK_ALREADY_CLOSED:
                # The execution already moved on (its wait timed out, or it ended): nothing to stop.
                logger.info("task token no longer waiting", incident=incident["incidentId"], error=code)
                return
            # AccessDenied, throttling, a bad token: the escalation is still waiting and will page
            # the next tier although the incident is closed. Someone must look.
            logger.error(
                "could not stop the escalation wait",
                incident=incident["incidentId"],
                error=code,
                detail=err.response["Error"].get("Message", ""),
            )

    def _tell_paged_channels(self, incident: dict[str, Any], kind: Kind, note: str) -> None:
        self._tell(incident, list(incident.get("pagedChannels", [])), kind, note)

    def _tell(self, incident: dict[str, Any], refs: list[str], kind: Kind, note: str) -> None:
        if not refs:
            return
        tiers = list(dict.fromkeys(str(p["tier"]) for p in incident.get("pagedTiers", [])))
        message = render(
            PageContext.from_dict(incident["context"]),
            kind=kind,
            incident_id=incident["incidentId"],
            tier=",".join(tiers) or "all",
            note=note,
        )
        _, failures = self._deliver(refs, message)
        self.store.add_channel_failures(incident["incidentId"], failures)

    def verify_link(self, incident_id: str, token: str) -> signing.LinkClaims:
        """The claims of a valid acknowledge link for this incident; InvalidSignature otherwise."""
        return signing.verify(self._link_secret(), token, purpose=ACK_PURPOSE, subject=incident_id or None)

    def check_link(self, incident_id: str, token: str) -> AckResult | None:
        """Verify a link without using it: None if it can acknowledge, else why there is nothing to do."""
        self.verify_link(incident_id, token)
        incident = self.store.require(incident_id)
        if incident["status"] == "open":
            return None
        by = incident.get("acknowledgedBy", "")
        message = f"The incident is already {incident['status']}" + (f" by {by}" if by else "") + "."
        return AckResult(incident_id, False, incident["status"], by, message)

    def acknowledge(self, incident_id: str, *, by: str, via: str, token: str | None = None) -> AckResult:
        """Acknowledge the incident and stop its escalation at once.

        With `token` (signed link, Slack button) the link is verified and consumed; a forged,
        expired, replayed or wrong-incident link raises InvalidSignature (the endpoint counts it
        as a refusal) and changes nothing. Vendor webhooks and the console (already
        authenticated) pass no token.
        """
        nonce = None
        if token is not None:
            claims = self.verify_link(incident_id, token)
            incident_id, nonce = claims.subject, claims.nonce
        try:
            incident = self.store.acknowledge(incident_id, by=by, via=via, nonce=nonce)
        except IncidentClosed as err:
            return AckResult(incident_id, False, err.status, err.by, str(err))
        self._stop_execution_wait(incident, {"outcome": "acknowledged", "by": by, "via": via})
        self._tell_paged_channels(incident, *_closing_notice(incident))
        logger.info("acknowledged", incident=incident_id, by=by, via=via)
        return AckResult(incident_id, True, "acknowledged", by, f"Acknowledged by {by}. Escalation stopped.")

    def resolve_alarm(self, event: dict[str, Any]) -> dict[str, Any]:
        """The alarm is OK again: resolve its open incident, stop escalation, tell every channel paged."""
        detail = event.get("detail") or {}
        alarm_name = str(detail.get("alarmName") or "")
        state = detail.get("state") or {}
        ok_at = event_epoch(state.get("timestamp") or event.get("time"))
        incident_id = self.store.open_incident_for(alarm_name, ok_at=ok_at) if alarm_name else None
        if alarm_name and ok_at is not None:
            self.store.note_ok(alarm_name, ok_at)
        if not incident_id:
            return {"alarmName": alarm_name, "resolved": None}
        reason = str(state.get("reason") or "alarm returned to OK")[:600]
        try:
            incident = self.store.resolve(incident_id, reason=reason)
        except IncidentClosed:
            return {"alarmName": alarm_name, "resolved": None}
        self._stop_execution_wait(incident, {"outcome": "resolved"})
        self._tell_paged_channels(incident, *_closing_notice(incident))
        logger.info("resolved", incident=incident_id, alarm=alarm_name)
        return {"alarmName": alarm_name, "resolved": incident_id}

    def record_remediation(self, detail: dict[str, Any]) -> dict[str, Any]:
        """Append a finished remediation to the alarm's open incident."""
        alarm_name = str(detail.get("alarmName") or "")
        incident_id = self.store.open_incident_for(alarm_name) if alarm_name else None
        if not incident_id:
            return {"alarmName": alarm_name, "incidentId": None}
        summary = ", ".join(
            f"{k}={detail[k]}" for k in ("route", "action", "outcome", "executionArn") if detail.get(k)
        )
        self.store.add_timeline(incident_id, "remediation finished", summary)
        return {"alarmName": alarm_name, "incidentId": incident_id}


def _closing_notice(incident: dict[str, Any]) -> tuple[Kind, str]:
    """The follow-up for an incident that is no longer open: (kind, note)."""
    if incident["status"] == ACKNOWLEDGED:
        by, via = incident.get("acknowledgedBy", ""), incident.get("acknowledgedVia", "")
        return "acknowledged", f"Acknowledged by {by} via {via}. Escalation stopped."
    reason = next(
        (e.get("detail", "") for e in reversed(incident.get("timeline", [])) if e.get("event") == "resolved"),
        "",
    )
    return "resolved", f"The alarm returned to OK: {reason}" if reason else "The alarm returned to OK."


def build(settings: EscalationSettings | None = None) -> Escalation:
    """The engine wired to real AWS clients (handlers call this once at cold start)."""
    import boto3

    from bedrock_watch.secretstore import SecretCache

    settings = settings or EscalationSettings.from_env()
    secrets = SecretCache()
    return Escalation(
        settings,
        store=IncidentStore(settings.table_name, retention_days=settings.retention_days),
        channel_secret=lambda: secrets.json(settings.channel_secret_id),
        link_secret=lambda: secrets.text(settings.link_secret_id).encode(),
        cloudwatch=boto3.client("cloudwatch"),
        sfn=boto3.client("stepfunctions"),
        sns=boto3.client("sns"),
    )
