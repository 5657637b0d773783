"""The escalation engine's domain operations, one per handler and Step Functions task.

- open_incident: alarm event -> the incident of its root cause (bedrock_watch.correlation):
  a new incident the state machine escalates, or an alarm joining an open one (listed on it,
  raising its severity if higher, a short update to the channels already paged — never a page of
  its own). Re-delivered and repeated events change nothing.
- next_step / hold / page: walk the incident's plan. The plan lives on the incident, so a
  severity raise replaces it and the waiting execution is told to pick its next step again.
  Waiting happens on a task token, so an acknowledgement, an OK or a raise ends any wait at once.
- final_notice: escalation exhausted, the incident stays open and unacknowledged
- acknowledge: signed link, Slack button, vendor webhook or console -> stop escalation
- resolve_alarm: an alarm is OK again -> recorded on its incident; once all of its alarms are OK
  the incident resolves, escalation stops and every channel paged is told
- record_remediation: a remediation finished -> the incident's timeline
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
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
from bedrock_watch.contract import (
    DIMENSION_APPLICATION,
    DIMENSION_MODEL,
    SEVERITIES,
    SIGNAL_COMPOSITE_INPUT,
    TAG_SEVERITY,
    TAG_SIGNAL,
)
from bedrock_watch.correlation import cause_of
from bedrock_watch.errors import BedrockWatchError
from bedrock_watch.incidents import (
    ACKNOWLEDGED,
    OPEN,
    RESOLVED,
    Arrival,
    IncidentClosed,
    IncidentStore,
    OpenOutcome,
    ceil_seconds,
    event_epoch,
    incident_id_for,
)
from bedrock_watch.notices import NoticeBudget, digest_message
from bedrock_watch.pages import (
    Kind,
    Message,
    PageContext,
    composite_children,
    context_from_alarm,
    input_lines,
    is_multi_time_series,
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
STATE_CHANGE = "CloudWatch Alarm State Change"
CONTRIBUTOR_STATE_CHANGE = "CloudWatch Alarm Contributor State Change"


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
    correlation_window_seconds: int = 1200
    notice_limit: int = 10
    notice_window_seconds: int = 300

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
            correlation_window_seconds=env_int("CORRELATION_WINDOW_SECONDS", 1200, minimum=0, environ=e),
            notice_limit=env_int("CHANNEL_MESSAGE_LIMIT", 10, minimum=0, environ=e),
            notice_window_seconds=env_int("CHANNEL_WINDOW_SECONDS", 300, minimum=1, environ=e),
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    delivered: list[str]
    failures: list[dict[str, str]]
    held: list[str]  # the channel's budget for the window was spent: on its digest


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
        self.notices = NoticeBudget(
            store.table,
            limit=settings.notice_limit,
            window_seconds=settings.notice_window_seconds,
            clock=store.epoch,
        )

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
    def steps_for(self, severity: str) -> list[dict[str, Any]]:
        """The paging plan of a severity (PolicyError names a bad field of the policy)."""
        return [step.as_dict() for step in plan(parse_policy(self.settings.policy_document)[severity])]

    @staticmethod
    def _not_escalated(
        alarm_name: str, reason: str, outcome: str = "ignored", incident_id: str = ""
    ) -> dict[str, Any]:
        logger.info("not escalated", alarm=alarm_name, reason=reason)
        return {
            "incident": {
                "incidentId": incident_id,
                "opened": False,
                "outcome": outcome,
                "escalate": False,
                "reason": reason,
                "alarmName": alarm_name,
            },
            "cursor": {"planVersion": 0, "after": -1},
        }

    def open_incident(self, event: dict[str, Any]) -> dict[str, Any]:
        """Put an ALARM event (an alarm's, or a multi-time-series alarm contributor's) on the
        incident of its root cause; the state the escalation state machine carries."""
        detail = event.get("detail") if isinstance(event, dict) else None
        if not isinstance(detail, dict) or not detail.get("alarmName"):
            raise InvalidAlarmEvent(
                "input is not a CloudWatch Alarm State Change event (no detail.alarmName)"
            )
        state = detail.get("state") or {}
        if state.get("value") != "ALARM":
            raise InvalidAlarmEvent(f"alarm state is {state.get('value')!r}, not 'ALARM'")
        alarm_name = str(detail["alarmName"])
        contributor = (
            detail.get("alarmContributor") if event.get("detail-type") == CONTRIBUTOR_STATE_CHANGE else None
        )
        attributes = _attributes(contributor)
        if contributor is None and is_multi_time_series(detail):
            # Each group (an application's budget) is a contributor with its own events; the
            # alarm's own ALARM only says "some contributor", and would page the first one twice.
            return self._not_escalated(alarm_name, "multi-time-series alarm: its contributors page")
        name = _contributor_name(alarm_name, attributes) if contributor is not None else alarm_name
        alarm_arn = str((event.get("resources") or [""])[0])
        tags = self._alarm_tags(alarm_arn)
        if tags.get(TAG_SIGNAL) == SIGNAL_COMPOSITE_INPUT:
            return self._not_escalated(alarm_name, "composite input: only the composite alarm it feeds pages")
        severity = tags.get(TAG_SEVERITY, DEFAULT_SEVERITY)
        if severity not in SEVERITIES:
            logger.warning("unknown Severity tag, using the default", alarm=alarm_name, severity=severity)
            severity = DEFAULT_SEVERITY
        steps = self.steps_for(severity)  # a bad policy fails here, before anything is written
        context = context_from_alarm(
            event,
            {**tags, TAG_SEVERITY: severity},
            dashboard_name=self.settings.dashboard_name,
            runbook_base_url=self.settings.runbook_base_url,
            alarm_name=name,
            dimensions=attributes,
        )
        if context.budget_related:
            context = PageContext.from_dict(
                {**context.as_dict(), "burn_rate_usd_per_hour": self._burn_rate()}
            )
        children = composite_children(event)
        if children:
            context = PageContext.from_dict({**context.as_dict(), "inputs": self._child_states(children)})
        timestamp = str(state.get("timestamp") or event.get("time"))
        alarm_at = event_epoch(timestamp)
        if alarm_at is None:
            raise InvalidAlarmEvent(f"alarm state timestamp {timestamp!r} is not an ISO-8601 time")
        cause = cause_of(
            name,
            tags,
            {DIMENSION_MODEL: context.model_id, DIMENSION_APPLICATION: context.application},
            composite_inputs=children,
        )
        arrival = Arrival(
            name=name,
            episode=incident_id_for(f"{alarm_arn or alarm_name}{name[len(alarm_name) :]}", timestamp),
            at=alarm_at,
            severity=severity,
            context=context.as_dict(),
            cause=cause,
        )
        outcome = self.store.open_or_join(
            arrival,
            window_seconds=self.settings.correlation_window_seconds,
            steps_for=lambda sev: steps if sev == severity else self.steps_for(sev),
        )
        logger.info("incident", incident=outcome.incident_id, outcome=outcome.outcome, reason=outcome.reason)
        if outcome.outcome == "joined":
            self._announce_join(outcome, arrival)
        escalate = outcome.opened or outcome.takeover
        version = 1 if outcome.opened else int((outcome.incident or {}).get("planVersion") or 0)
        return {
            "incident": {
                "incidentId": outcome.incident_id,
                "opened": outcome.opened,
                "outcome": outcome.outcome,
                "escalate": escalate,
                "reason": outcome.reason,
                "alarmName": name,
                "severity": severity,
            },
            "cursor": {"planVersion": version, "after": -1},
        }

    def _announce_join(self, outcome: OpenOutcome, arrival: Arrival) -> None:
        """A short update to the channels already paged; a raised severity re-plans the escalation."""
        incident = outcome.incident or {}
        if outcome.raised and incident.get("status") == OPEN and not outcome.takeover:
            # the waiting execution picks its next step from the new plan
            self._stop_execution_wait(incident, {"outcome": "replan"})
        refs = list(incident.get("pagedChannels", []))
        if not refs:
            return
        ctx = PageContext.from_dict(arrival.context)
        if outcome.raised:
            note = f"Severity raised to {incident.get('severity')}: {ctx.state_reason}"
        else:
            note = ctx.state_reason or "Another alarm of the same root cause is in ALARM."
        url, token = self.ack_link(outcome.incident_id) if incident.get("status") == OPEN else ("", "")
        states = _alarm_states(incident)
        message = render(
            ctx,
            kind="update",
            severity=str(incident.get("severity", arrival.severity)),
            incident_id=outcome.incident_id,
            tier=_paged_tiers(incident),
            ack_url=url,
            ack_token=token,
            note=note,
            alarms=states,
            lead=next((name for name, _ in states if name != arrival.name), ""),
        )
        self.store.add_channel_failures(outcome.incident_id, self._deliver(refs, message, incident).failures)

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

    def _deliver(
        self,
        refs: list[str],
        message: Message,
        incident: dict[str, Any] | None = None,
        *,
        budgeted: bool = True,
    ) -> Delivery:
        """Send `message` on every channel: delivered, failed (why), or held for the channel's
        digest when its message budget for the window is spent (an alarm storm). A channel that
        returns a reference (a ServiceNow sys_id, a Slack thread) has it stored on the incident at
        once, so even a retried task addresses the same vendor record."""
        factory = self._channels()
        known = dict((incident or {}).get("channelRefs") or {})
        result = Delivery([], [], [])
        for ref in refs:
            if budgeted and not self.notices.admit(ref, message):
                self.notices.hold(ref, message)
                logger.info(
                    "held for the digest", channel=ref, incident=message.incident_id, kind=message.kind
                )
                result.held.append(ref)
                continue
            try:
                returned = factory.build(ref).send(message, known.get(ref))
            except ChannelError as err:
                logger.warning("channel failed", channel=ref, incident=message.incident_id, error=str(err))
                result.failures.append(
                    {"channel": ref, "error": f"{type(err).__name__}: {err}", "at": self.store.now()}
                )
            except Exception as err:
                # Not a failure mode the channel knows: still a failed delivery, never a lost page
                # (the tier's other channels are tried, told and the failure recorded).
                logger.exception("channel failed unexpectedly", channel=ref, incident=message.incident_id)
                result.failures.append(
                    {
                        "channel": ref,
                        "error": f"unexpected {type(err).__name__}: {err}"[:500],
                        "at": self.store.now(),
                    }
                )
            else:
                result.delivered.append(ref)
                if returned and returned != known.get(ref) and incident is not None:
                    self.store.set_channel_ref(message.incident_id, ref, returned)
                    known[ref] = returned
        return result

    def _message(
        self, incident: dict[str, Any], kind: Kind, tier: str, *, note: str = "", link: bool = True
    ) -> Message:
        """A notice about the incident: its first alarm's facts, every alarm's state, a fresh link."""
        url, token = self.ack_link(incident["incidentId"]) if link else ("", "")
        context = PageContext.from_dict({**incident["context"], "severity": incident["severity"]})
        return render(
            context,
            kind=kind,
            incident_id=incident["incidentId"],
            tier=tier,
            ack_url=url,
            ack_token=token,
            note=note,
            alarms=_alarm_states(incident),
        )

    def _send_to_tier(
        self, incident: dict[str, Any], step: dict[str, Any], kind: Kind, plan_version: int
    ) -> None:
        message = self._message(incident, kind, step["tier"])
        sent = self._deliver(list(step["channels"]), message, incident)
        delivered, failures = sent.delivered, sent.failures
        if failures and delivered:
            # Tell the people who did get the page that some of their colleagues did not.
            note = "Could not page through: " + "; ".join(f"{f['channel']} ({f['error']})" for f in failures)
            self._deliver(
                delivered, self._message(incident, "channel_failure", step["tier"], note=note), incident
            )
        after = self.store.record_page(
            incident["incidentId"],
            step=step,
            kind=kind,
            delivered=delivered,
            failures=failures,
            held=sent.held,
            plan_version=plan_version,
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
            held=sent.held,
            failed=[f["channel"] for f in failures],
        )
        if not delivered and not sent.held:
            raise PageNotDelivered(
                f"tier {step['tier']} of incident {incident['incidentId']}: every channel failed ("
                + "; ".join(f"{f['channel']}: {f['error']}" for f in failures)
                + ")"
            )

    def next_step(
        self, incident_id: str, cursor: dict[str, Any], *, now: float | None = None
    ) -> dict[str, Any]:
        """What the workflow does next for the incident: page a step (after `waitSeconds`), send
        the final notice (`done`), or stop (`closed`). `cursor` is the plan version and the index
        of the last step this execution handled; a new plan version starts over on the new plan."""
        incident = self.store.require(incident_id)
        version = int(incident.get("planVersion") or 1)
        closed = {
            "closed": True,
            "done": False,
            "planVersion": version,
            "waitSeconds": 0,
            "ackTimeoutSeconds": 1,
        }
        if incident["status"] != OPEN:
            return closed
        after = int(cursor.get("after", -1)) if int(cursor.get("planVersion") or 0) == version else -1
        paged = {int(p["index"]) for p in _pages_of_plan(incident, version) if p.get("kind") == "page"}
        todo = [
            s
            for s in incident["steps"]
            if s["index"] > after and not s.get("skip") and s["index"] not in paged
        ]
        if not todo:
            return {
                "closed": False,
                "done": True,
                "planVersion": version,
                "waitSeconds": 0,
                "ackTimeoutSeconds": 1,
            }
        step, following = todo[0], todo[1] if len(todo) > 1 else None
        moment = self.store.epoch() if now is None else now
        due = float(incident["planStartedAt"]) + float(step["atSeconds"])
        unreached = any(
            int(p["index"]) == after and not p.get("delivered") and not p.get("held")
            for p in _pages_of_plan(incident, version)
        )
        if unreached:
            due = min(due, moment)  # nobody got the previous tier's page: the next one now
        start = max(moment, due)
        if following is not None:
            ack = float(incident["planStartedAt"]) + float(following["atSeconds"]) - start
        else:
            ack = float(step["ackTimeoutSeconds"])
        return {
            "closed": False,
            "done": False,
            "planVersion": version,
            "step": step,
            "waitSeconds": ceil_seconds(due - moment),
            "ackTimeoutSeconds": max(1, ceil_seconds(ack)),
        }

    def hold(self, incident_id: str, plan_version: int, task_token: str) -> dict[str, Any]:
        """Wait until the next step is due, on a task token: an acknowledgement, an OK or a
        severity raise ends the wait at once (IncidentClosed / PlanChanged if already so)."""
        self.store.register_task_token(incident_id, task_token, plan_version)
        return {"incidentId": incident_id, "holding": True}

    def page(
        self, incident_id: str, step: dict[str, Any], task_token: str, plan_version: int = 1
    ) -> dict[str, Any]:
        """Page one step of the plan while the execution waits on `task_token` for an acknowledgement.

        IncidentClosed if it was acknowledged or resolved meanwhile, PlanChanged if its plan was
        replaced; PageNotDelivered if every channel of the tier failed (recorded on the incident first).
        """
        incident = self.store.register_task_token(incident_id, task_token, plan_version)
        if any(
            p.get("kind") == "page"
            and p.get("index") == step["index"]
            and (p.get("delivered") or p.get("held"))
            for p in _pages_of_plan(incident, plan_version)
        ):
            # A retried task (Lambda service error after delivery): the tier already has the page.
            logger.info("tier already paged, not paging twice", incident=incident_id, tier=step["tier"])
            return {"incidentId": incident_id, "tier": step["tier"], "repeated": True}
        self._send_to_tier(incident, step, "page", plan_version)
        return {"incidentId": incident_id, "tier": step["tier"]}

    def final_notice(self, incident_id: str, plan_version: int = 1) -> dict[str, Any]:
        """Escalation exhausted: tell the last tier; the incident stays open and unacknowledged.
        `replanned` when its plan changed meanwhile (the workflow goes on with the new one)."""
        incident = self.store.require(incident_id)
        if incident["status"] != OPEN:
            return {"incidentId": incident_id, "status": incident["status"], "replanned": False}
        if not self.store.mark_exhausted(incident_id, plan_version):
            latest = self.store.require(incident_id)
            return {
                "incidentId": incident_id,
                "status": latest["status"],
                "replanned": latest["status"] == OPEN,
            }
        last = next(s for s in reversed(incident["steps"]) if not s.get("skip"))
        self._send_to_tier(incident, last, "final", plan_version)
        return {"incidentId": incident_id, "status": "open", "exhausted": True, "replanned": False}

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
        message = self._message(incident, kind, _paged_tiers(incident), note=note, link=False)
        self.store.add_channel_failures(
            incident["incidentId"], self._deliver(refs, message, incident).failures
        )

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
        """An alarm (or a contributor) is OK again: record it on its incident; once every alarm of
        the incident is OK, resolve it, stop escalation and tell every channel paged."""
        detail = event.get("detail") or {}
        alarm_name = str(detail.get("alarmName") or "")
        if event.get("detail-type") == CONTRIBUTOR_STATE_CHANGE:
            alarm_name = _contributor_name(alarm_name, _attributes(detail.get("alarmContributor")))
        state = detail.get("state") or {}
        ok_at = event_epoch(state.get("timestamp") or event.get("time"))
        if not alarm_name or ok_at is None:
            return {"alarmName": alarm_name, "resolved": None}
        reason = str(state.get("reason") or "alarm returned to OK")[:600]
        ok = self.store.alarm_ok(alarm_name, ok_at, reason)
        if ok.incident is None or not ok.all_ok or ok.incident["status"] == RESOLVED:
            still = _firing(ok.incident) if ok.incident else []
            return {"alarmName": alarm_name, "resolved": None, "stillFiring": still}
        incident_id = ok.incident["incidentId"]
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

    # ---------------------------------------------------------------- storms
    def send_digests(self) -> dict[str, Any]:
        """Send each channel's digest of the notices held in a window that has ended (the digest
        sweep's one-minute schedule): one message, a line per notice, an acknowledge link per
        incident still open. A digest is taken exactly once; a failed one is recorded on its
        incidents and not retried (the next window's digest, or the incident's page, follows)."""
        sent: list[str] = []
        failed: list[str] = []
        for key in self.notices.due():
            held = self.notices.take(key)
            if held is None:
                continue
            links: dict[str, str] = {}
            for incident_id in dict.fromkeys(str(line["incident"]) for line in held.lines):
                incident = self.store.get(incident_id)
                if incident is not None and incident.get("status") == OPEN:
                    links[incident_id] = self.ack_link(incident_id)[0]
            message = digest_message(held, self.settings.notice_window_seconds, links)
            result = self._deliver([held.channel], message, budgeted=False)
            detail = f"{held.channel}: {held.count} held notice(s) in one message"
            if result.failures:
                detail += f", not delivered ({result.failures[0]['error']})"
            for incident_id in dict.fromkeys(str(line["incident"]) for line in held.lines):
                self.store.add_timeline(incident_id, "digest", detail)
                self.store.add_channel_failures(incident_id, result.failures)
            (failed if result.failures else sent).append(key)
            self.notices.done(key)
        if sent or failed:
            logger.info("digests", sent=sent, failed=failed)
        return {"sent": sent, "failed": failed}


def _attributes(contributor: Any) -> dict[str, str]:
    """The attributes (dimension values) of a multi-time-series alarm's contributor."""
    raw = contributor.get("attributes") if isinstance(contributor, dict) else None
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def _contributor_name(alarm_name: str, attributes: dict[str, str]) -> str:
    """How a contributor is named on incidents and pages: the alarm and what it is about."""
    described = ", ".join(f"{k}={v}" for k, v in sorted(attributes.items()))
    return f"{alarm_name} [{described}]" if described else alarm_name


def _pages_of_plan(incident: dict[str, Any], version: int) -> Iterator[dict[str, Any]]:
    """The incident's page records made under escalation plan `version` (1 before any re-plan)."""
    return (p for p in incident.get("pagedTiers", []) if int(p.get("planVersion") or 1) == version)


def _alarm_states(incident: dict[str, Any]) -> list[tuple[str, str]]:
    alarms = incident.get("alarms") or {}
    ordered = sorted(alarms.items(), key=lambda kv: float(kv[1].get("at") or 0))
    return [(name, str(entry.get("state", ""))) for name, entry in ordered]


def _firing(incident: dict[str, Any]) -> list[str]:
    return [name for name, state in _alarm_states(incident) if state == "ALARM"]


def _paged_tiers(incident: dict[str, Any]) -> str:
    """The tiers paged so far (follow-ups go to all of them; SNS filters on any element)."""
    tiers = list(dict.fromkeys(str(p["tier"]) for p in incident.get("pagedTiers", [])))
    return ",".join(tiers) or "all"


def _closing_notice(incident: dict[str, Any]) -> tuple[Kind, str]:
    """The follow-up for an incident that is no longer open: (kind, note)."""
    if incident["status"] == ACKNOWLEDGED:
        by, via = incident.get("acknowledgedBy", ""), incident.get("acknowledgedVia", "")
        return "acknowledged", f"Acknowledged by {by} via {via}. Escalation stopped."
    reason = next(
        (e.get("detail", "") for e in reversed(incident.get("timeline", [])) if e.get("event") == "resolved"),
        "",
    )
    if len(incident.get("alarms") or {}) > 1:
        return "resolved", "Every alarm of this incident is OK again." + (
            f" Last: {reason}" if reason else ""
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
