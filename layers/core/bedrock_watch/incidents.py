"""The incident store (DynamoDB): one incident per root cause, its alarms, pages and timeline.

Items share one table, keyed by `pk`:
- `INCIDENT#<id>`: the incident — status, severity, every alarm on it with its state (`alarms`,
  and `firing`, how many are still in ALARM), the paging plan it walks (`steps`, `planVersion`,
  `planStartedAt`), what was paged, channel references (a ServiceNow sys_id, a Slack thread) and
  the timeline. The id of a new incident derives from its first alarm's ARN and transition time.
- `ALARM#<alarm>`: the alarm's current episode (`episodeId`, `episodeAt`), the incident it is on
  (`openIncidentId`, cleared by its OK) and its latest OK (`lastOkAt`). Claimed with conditions:
  a re-delivered event (EventBridge is at-least-once) and a repeated ALARM while the alarm is on an
  incident never page twice; an ALARM older than the alarm's latest OK (events arrive in any
  order) opens nothing.
- `CAUSE#<area>|<key>`: the newest incident about a cause key (bedrock_watch.correlation) and the
  time of its latest alarm: how a new alarm finds the incident it joins. A new incident and its
  cause pointers are written in one transaction, each pointer on the condition that no fresh
  incident holds it, so two alarms of one cause arriving at the same moment open one incident:
  the second transaction fails and that alarm joins the first incident instead.
Every item carries `expiresAt` (TTL).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from bedrock_watch.correlation import SEVERITY_RANK, Cause, higher, joins, within
from bedrock_watch.errors import BedrockWatchError, aws_error_code, conditional_check_failed
from bedrock_watch.signing import InvalidSignature

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

MAX_TIMELINE = 200  # entries; repeated ALARM transitions stop being recorded past this
MAX_ALARMS = 300  # alarms listed on one incident (~300 bytes each); later ones open their own
OPEN = "open"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
ALARM = "ALARM"
OK = "OK"
_ATTEMPTS = 5  # join/create rounds before an alarm opens an incident of its own (never lost)


class IncidentNotFound(BedrockWatchError):
    """No incident has this id."""


class IncidentClosed(BedrockWatchError):
    """The incident is no longer open (acknowledged or resolved): escalation stops here."""

    def __init__(self, message: str, status: str = "", by: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.by = by


class PlanChanged(BedrockWatchError):
    """The incident's paging plan changed (its severity rose): the workflow picks its next step again."""


class LinkReplayed(InvalidSignature):
    """This acknowledge link was already used once."""


def event_epoch(timestamp: Any) -> float | None:
    """Epoch seconds of an alarm event's state timestamp ("2026-11-26T14:05:10.430+0000")."""
    try:
        moment = datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def incident_id_for(alarm_arn: str, transition_timestamp: str) -> str:
    """Deterministic id of the episode that started with this ALARM transition."""
    digest = hashlib.sha256(f"{alarm_arn}|{transition_timestamp}".encode()).hexdigest()
    return f"inc-{digest[:24]}"


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals and sets as plain JSON-able values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    return value


def _dynamo(value: Any) -> Any:
    """Floats as Decimals: the resource API refuses floats."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dynamo(v) for v in value]
    return value


def incident_cause(incident: dict[str, Any]) -> Cause:
    """The cause of an incident: the union of its alarms' keys and links, in its area."""
    return Cause(
        str(incident.get("area", "")),
        frozenset(incident.get("causeKeys", [])),
        frozenset(incident.get("causeLinks", [])),
    )


def _rank(arrival: Arrival) -> tuple[int, int, float, str]:
    """Sort key of an incident's lead alarm (smallest leads): most severe, then about a model,
    route or application, then earliest, then by name — the same lead whatever order the
    alarms of one evaluation arrive in."""
    return (
        -SEVERITY_RANK.get(arrival.severity, 0),
        0 if arrival.cause.specific else 1,
        arrival.at,
        arrival.name,
    )


def _leads(arrival: Arrival, incident: dict[str, Any]) -> bool:
    current = incident.get("leadRank")
    if not isinstance(current, list) or len(current) != 4:
        return False
    return _rank(arrival) < (int(current[0]), int(current[1]), float(current[2]), str(current[3]))


@dataclass(frozen=True, slots=True)
class Arrival:
    """An alarm (or a multi-time-series alarm's contributor) entering ALARM."""

    name: str  # the alarm's name; "<alarm> [Application=…]" for a contributor
    episode: str  # id of this ALARM transition: re-deliveries of the event share it
    at: float  # the transition's time (epoch seconds, from the event)
    severity: str
    context: dict[str, Any]  # its page context (allow-listed facts only)
    cause: Cause

    def entry(self) -> dict[str, Any]:
        """How the incident lists this alarm."""
        ctx = self.context
        return {
            "state": ALARM,
            "since": str(ctx.get("state_timestamp", "")),
            "at": self.at,
            "severity": self.severity,
            "episode": self.episode,
            "reason": str(ctx.get("state_reason", ""))[:300],
        }


@dataclass(frozen=True, slots=True)
class OpenOutcome:
    """What an ALARM did: opened an incident, joined one, or nothing (duplicate, folded, stale)."""

    outcome: str  # opened | joined | duplicate | folded | stale
    incident_id: str
    reason: str
    incident: dict[str, Any] | None = None  # the incident after a join
    raised: bool = False  # the join raised the incident's severity
    takeover: bool = False  # the join restarted an exhausted incident's escalation

    @property
    def opened(self) -> bool:
        return self.outcome == "opened"


@dataclass(frozen=True, slots=True)
class OkOutcome:
    incident: dict[str, Any] | None  # the incident the alarm was on, after its OK was recorded
    all_ok: bool  # no alarm of it is in ALARM any more


StepsFor = Callable[[str], list[dict[str, Any]]]


class IncidentStore:
    def __init__(
        self,
        table_name: str,
        *,
        table: Table | None = None,
        retention_days: int = 90,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if table is None:
            import boto3

            table = boto3.resource("dynamodb").Table(table_name)
        self._table = table
        self._name = table_name or table.name
        self._retention = retention_days * 86400
        self._clock = clock

    @property
    def table(self) -> Table:
        return self._table

    def now(self) -> str:
        return datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="milliseconds")

    def epoch(self) -> float:
        return self._clock()

    def _expires(self) -> int:
        return int(self._clock()) + self._retention

    def _entry(self, event: str, detail: str = "") -> dict[str, str]:
        return {"at": self.now(), "event": event, "detail": detail[:1000]}

    # ---------------------------------------------------------------- reads
    def get(self, incident_id: str) -> dict[str, Any] | None:
        """The incident as plain values, or None."""
        item = self._table.get_item(Key={"pk": f"INCIDENT#{incident_id}"}, ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def require(self, incident_id: str) -> dict[str, Any]:
        """The incident, or IncidentNotFound."""
        incident = self.get(incident_id)
        if incident is None:
            raise IncidentNotFound(f"no incident {incident_id}")
        return incident

    def _pointer(self, key: str) -> dict[str, Any]:
        return _plain(self._table.get_item(Key={"pk": key}, ConsistentRead=True).get("Item") or {})

    def open_incident_for(self, alarm_name: str) -> str | None:
        """Id of the incident the alarm is on while it is in ALARM, if any."""
        value = self._pointer(f"ALARM#{alarm_name}").get("openIncidentId")
        return str(value) if value else None

    # ---------------------------------------------------------------- an alarm enters ALARM
    def open_or_join(self, arrival: Arrival, *, window_seconds: float, steps_for: StepsFor) -> OpenOutcome:
        """Put an ALARM on the incident of its root cause, opening one if there is none.

        Duplicates (the same transition delivered again), repeated ALARMs of an alarm already on an
        incident and ALARMs older than the alarm's latest OK change nothing but the timeline.
        """
        claimed = self._claim_episode(arrival)
        if isinstance(claimed, OpenOutcome):
            return claimed
        outcome: OpenOutcome | None = None
        for _ in range(_ATTEMPTS):
            candidate = self._find(arrival, window_seconds)
            if candidate is not None:
                outcome = self._join(candidate, arrival, steps_for)
            else:
                outcome = self._create(arrival, steps_for, window_seconds, claim=True)
            if outcome is not None:
                break
        if outcome is None:
            # Contended past every retry: an incident of its own rather than a lost page.
            outcome = self._create(arrival, steps_for, window_seconds, claim=False)
            assert outcome is not None
        if outcome.outcome in ("opened", "joined"):
            self._bind(arrival, outcome.incident_id)
            self._point(arrival, outcome, window_seconds)
        return outcome

    def _claim_episode(self, arrival: Arrival) -> OpenOutcome | None:
        """Make this transition the alarm's episode; an OpenOutcome when there is nothing to do."""
        key = {"pk": f"ALARM#{arrival.name}"}
        try:
            result = self._table.update_item(
                Key=key,
                UpdateExpression="SET episodeId = :ep, episodeAt = :at, alarmName = :name, expiresAt = :exp",
                ConditionExpression="(attribute_not_exists(openIncidentId) OR episodeId = :ep) "
                "AND (attribute_not_exists(lastOkAt) OR lastOkAt < :at)",
                ExpressionAttributeValues={
                    ":ep": arrival.episode,
                    ":at": _dynamo(arrival.at),
                    ":name": arrival.name,
                    ":exp": self._expires(),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if not conditional_check_failed(err):
                raise
            seen = self._pointer(key["pk"])
            last_ok = seen.get("lastOkAt")
            if isinstance(last_ok, int | float) and last_ok >= arrival.at:
                return OpenOutcome("stale", "", "the alarm is already OK again (its OK event arrived first)")
            current = str(seen.get("openIncidentId") or "")
            if current:
                # bounded: an alarm flapping for days must not grow the item towards 400 KB
                self.add_timeline(
                    current,
                    "alarm entered ALARM again",
                    f"{arrival.name}: episode {arrival.episode} folded into this one",
                    max_entries=MAX_TIMELINE,
                )
                return OpenOutcome("folded", current, "the alarm is already on an open incident")
            return OpenOutcome("stale", "", "the alarm's state moved on while this event was handled")
        bound = str(_plain(result["Attributes"]).get("openIncidentId") or "")
        if bound:
            return OpenOutcome("duplicate", bound, "duplicate event for an alarm already on an incident")
        return None

    def _find(self, arrival: Arrival, window_seconds: float) -> dict[str, Any] | None:
        """The open incident this alarm is the same root cause as, if any (most specific first)."""
        seen: set[str] = set()
        for pointer in arrival.cause.pointers():
            item = self._pointer(f"CAUSE#{pointer}")
            incident_id = str(item.get("incidentId") or "")
            last = item.get("lastAt")
            if not incident_id or incident_id in seen or not isinstance(last, int | float):
                continue
            seen.add(incident_id)
            if not within(arrival.at, last, window_seconds):
                continue
            incident = self.get(incident_id)
            if (
                incident is not None
                and incident["status"] != RESOLVED
                and int(incident.get("alarmCount") or 0) < MAX_ALARMS
                and within(arrival.at, float(incident.get("lastAlarmAt") or 0), window_seconds)
                and joins(arrival.cause, incident_cause(incident))
            ):
                return incident
        return None

    def _new_plan(self, incident: dict[str, Any], steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A higher severity's plan for an incident already paged: each tier's channels that already
        have this incident get an update instead of a second page, and a step left without any
        channel is skipped."""
        done = set(incident.get("pagedTierChannels", []))
        out = []
        for step in steps:
            channels = [c for c in step["channels"] if f"{step['tier']}|{c}" not in done]
            out.append({**step, "channels": channels or step["channels"], "skip": not channels})
        return out

    def _join(self, incident: dict[str, Any], arrival: Arrival, steps_for: StepsFor) -> OpenOutcome | None:
        """Add the alarm to the incident; None when the incident changed meanwhile (try again)."""
        incident_id = incident["incidentId"]
        alarms = incident.get("alarms") or {}
        previous = alarms.get(arrival.name)
        severity = higher(str(incident["severity"]), arrival.severity)
        raised = severity != incident["severity"]
        names = {"#a": "alarms", "#n": arrival.name, "#s": "status", "#sev": "severity", "#tl": "timeline"}
        values: dict[str, Any] = {
            ":entry": _dynamo(arrival.entry()),
            ":last": _dynamo(max(float(incident.get("lastAlarmAt") or 0), arrival.at)),
            ":resolved": RESOLVED,
            ":seen": incident["severity"],
            ":links": set(arrival.cause.links),
            ":e": [self._entry("alarm joined", f"{arrival.name} ({arrival.severity})"[:200])],
        }
        sets = ["#a.#n = :entry", "lastAlarmAt = :last", "#tl = list_append(#tl, :e)"]
        adds = ["causeLinks :links"]
        conditions = ["#s <> :resolved", "#sev = :seen"]
        if _leads(arrival, incident):
            # the headline of the incident's pages: its most severe, most specific alarm
            sets += ["alarmName = :lead", "context = :ctx", "leadRank = :rank"]
            values[":lead"] = arrival.name
            values[":ctx"] = _dynamo(arrival.context)
            values[":rank"] = _dynamo(list(_rank(arrival)))
        if previous is None:
            conditions.append("attribute_not_exists(#a.#n)")
            sets.append("alarmCount = if_not_exists(alarmCount, :zero) + :one")
            adds.append("firing :one")
            values[":zero"] = 0
            values[":one"] = 1
        else:
            if previous.get("episode") == arrival.episode:
                return OpenOutcome(
                    "duplicate", incident_id, "duplicate event for an alarm already on this incident"
                )
            conditions.append("#a.#n.episode = :prev")
            values[":prev"] = previous.get("episode", "")
            if previous.get("state") != ALARM:
                adds.append("firing :one")
                values[":one"] = 1
        if arrival.cause.keys:
            adds.append("causeKeys :keys")
            values[":keys"] = set(arrival.cause.keys)
            if not incident.get("causeKeys"):
                # the first specific alarm makes a stack-wide incident about its model/route/app;
                # a second one at the same moment (for another model) must not join as well
                conditions.append("attribute_not_exists(causeKeys)")
        takeover = False
        if raised:
            sets.append("#sev = :sev")
            values[":sev"] = severity
            if incident["status"] == OPEN:
                sets += ["steps = :steps", "planVersion = planVersion + :one", "planStartedAt = :now"]
                values[":steps"] = _dynamo(self._new_plan(incident, steps_for(severity)))
                values[":one"] = 1
                values[":now"] = _dynamo(self._clock())
                if incident.get("exhausted"):
                    sets.append("exhausted = :false")
                    values[":false"] = False
                    conditions.append("exhausted = :true")
                    values[":true"] = True
                    takeover = True
        expression = "SET " + ", ".join(sets) + " ADD " + ", ".join(adds)
        try:
            result = self._table.update_item(
                Key={"pk": f"INCIDENT#{incident_id}"},
                UpdateExpression=expression,
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if not conditional_check_failed(err):
                raise
            now = self.get(incident_id) or {}
            entry = (now.get("alarms") or {}).get(arrival.name) or {}
            if entry.get("episode") == arrival.episode:
                return OpenOutcome(
                    "duplicate", incident_id, "duplicate event for an alarm already on this incident"
                )
            return None
        joined = _plain(result["Attributes"])
        return OpenOutcome(
            "joined",
            incident_id,
            f"joined incident {incident_id} (same root cause)",
            joined,
            raised=raised,
            takeover=takeover,
        )

    def _create(
        self, arrival: Arrival, steps_for: StepsFor, window_seconds: float, *, claim: bool
    ) -> OpenOutcome | None:
        """Open a new incident for the alarm (claiming its cause pointers when `claim`); None when
        another incident of the same cause appeared meanwhile (join it instead)."""
        incident_id = arrival.episode
        now = self.now()
        cause = arrival.cause
        item: dict[str, Any] = {
            "pk": f"INCIDENT#{incident_id}",
            "incidentId": incident_id,
            "alarmName": arrival.name,
            "leadRank": list(_rank(arrival)),
            "severity": arrival.severity,
            "status": OPEN,
            "exhausted": False,
            "openedAt": now,
            "context": arrival.context,
            "area": cause.area,
            "causeLinks": set(cause.links),
            "alarms": {arrival.name: arrival.entry()},
            "alarmCount": 1,
            "firing": 1,
            "firstAlarmAt": arrival.at,
            "lastAlarmAt": arrival.at,
            "steps": steps_for(arrival.severity),
            "planVersion": 1,
            "planStartedAt": self._clock(),
            "pagedTiers": [],
            "channelFailures": [],
            "channelRefs": {},
            "timeline": [
                {"at": now, "event": "opened", "detail": str(arrival.context.get("state_reason", ""))[:1000]}
            ],
            "expiresAt": self._expires(),
        }
        if cause.keys:
            item["causeKeys"] = set(cause.keys)
        writes: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._name,
                    "Item": _dynamo(item),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        if claim:
            writes += [
                self._claim(pointer, incident_id, arrival, window_seconds) for pointer in cause.pointers()
            ]
        try:
            # the resource's client (de)serialises plain values, as Table calls do
            self._table.meta.client.transact_write_items(TransactItems=writes)  # type: ignore[arg-type]
        except ClientError as err:
            if aws_error_code(err) != "TransactionCanceledException":
                raise
            existing = self.get(incident_id)
            if existing is not None:
                return OpenOutcome("duplicate", incident_id, "duplicate event for an incident already opened")
            return None
        return OpenOutcome("opened", incident_id, "opened")

    def _claim(
        self, pointer: str, incident_id: str, arrival: Arrival, window_seconds: float
    ) -> dict[str, Any]:
        """A transaction write taking a cause pointer unless a fresh incident holds it."""
        area_wide = pointer.endswith("|*")
        condition = "attribute_not_exists(incidentId) OR incidentId = :id OR lastAt < :cutoff"
        if area_wide and arrival.cause.specific:
            # the newest incident of an area may be replaced by a specific one; a fresh stack-wide
            # incident may not (the specific alarm should have joined it)
            condition += " OR scoped = :true"
        values: dict[str, Any] = {":id": incident_id, ":cutoff": arrival.at - window_seconds}
        if area_wide and arrival.cause.specific:
            values[":true"] = True
        item = {
            "pk": f"CAUSE#{pointer}",
            "incidentId": incident_id,
            "lastAt": arrival.at,
            "scoped": arrival.cause.specific,
            "expiresAt": self._expires(),
        }
        return {
            "Put": {
                "TableName": self._name,
                "Item": _dynamo(item),
                "ConditionExpression": condition,
                "ExpressionAttributeValues": _dynamo(values),
            }
        }

    def _bind(self, arrival: Arrival, incident_id: str) -> None:
        try:
            self._table.update_item(
                Key={"pk": f"ALARM#{arrival.name}"},
                UpdateExpression="SET openIncidentId = :inc",
                ConditionExpression="episodeId = :ep",
                ExpressionAttributeValues={":inc": incident_id, ":ep": arrival.episode},
            )
        except ClientError as err:
            if not conditional_check_failed(err):
                raise

    def _point(self, arrival: Arrival, outcome: OpenOutcome, window_seconds: float) -> None:
        """Keep the cause pointers on the incident an alarm joined (its window moves on)."""
        if outcome.outcome != "joined" or outcome.incident is None:
            return
        incident = outcome.incident
        specific = bool(incident.get("causeKeys"))
        pointers = incident_cause(incident).pointers()
        for pointer in pointers:
            try:
                self._table.update_item(
                    Key={"pk": f"CAUSE#{pointer}"},
                    UpdateExpression="SET incidentId = :id, lastAt = :at, scoped = :scoped, expiresAt = :exp",
                    ConditionExpression="attribute_not_exists(incidentId) OR incidentId = :id "
                    "OR lastAt < :cutoff",
                    ExpressionAttributeValues={
                        ":id": outcome.incident_id,
                        ":at": _dynamo(float(incident.get("lastAlarmAt") or arrival.at)),
                        ":scoped": specific,
                        ":exp": self._expires(),
                        ":cutoff": _dynamo(arrival.at - window_seconds),
                    },
                )
            except ClientError as err:
                if not conditional_check_failed(err):
                    raise

    def _release(self, incident: dict[str, Any]) -> None:
        """Free the cause pointers a resolved incident holds."""
        for pointer in incident_cause(incident).pointers():
            try:
                self._table.delete_item(
                    Key={"pk": f"CAUSE#{pointer}"},
                    ConditionExpression="incidentId = :id",
                    ExpressionAttributeValues={":id": incident["incidentId"]},
                )
            except ClientError as err:
                if not conditional_check_failed(err):
                    raise

    # ---------------------------------------------------------------- an alarm returns to OK
    def alarm_ok(self, alarm_name: str, ok_at: float, reason: str) -> OkOutcome:
        """Record the alarm's OK (on its incident, and as its latest OK); whether its incident has
        no alarm in ALARM any more. An OK older than the alarm's current episode changes nothing."""
        try:
            result = self._table.update_item(
                Key={"pk": f"ALARM#{alarm_name}"},
                UpdateExpression="SET lastOkAt = :t, alarmName = :name, expiresAt = :exp "
                "REMOVE openIncidentId",
                ConditionExpression="(attribute_not_exists(lastOkAt) OR lastOkAt < :t) "
                "AND (attribute_not_exists(episodeAt) OR episodeAt <= :t)",
                ExpressionAttributeValues={
                    ":t": _dynamo(ok_at),
                    ":name": alarm_name,
                    ":exp": self._expires(),
                },
                ReturnValues="ALL_OLD",
            )
        except ClientError as err:
            if not conditional_check_failed(err):
                raise
            return OkOutcome(None, False)
        before = _plain(result.get("Attributes") or {})
        incident_id = str(before.get("openIncidentId") or "")
        if not incident_id:
            return OkOutcome(None, False)
        try:
            updated = self._table.update_item(
                Key={"pk": f"INCIDENT#{incident_id}"},
                UpdateExpression="SET #a.#n.#st = :ok, #a.#n.okAt = :at, #tl = list_append(#tl, :e) "
                "ADD firing :minus",
                ConditionExpression="#a.#n.episode = :ep AND #a.#n.#st = :alarm",
                ExpressionAttributeNames={
                    "#a": "alarms",
                    "#n": alarm_name,
                    "#st": "state",
                    "#tl": "timeline",
                },
                ExpressionAttributeValues={
                    ":ok": OK,
                    ":alarm": ALARM,
                    ":at": self.now(),
                    ":ep": before.get("episodeId", ""),
                    ":minus": -1,
                    ":e": [self._entry("alarm OK", f"{alarm_name} is OK: {reason}"[:300])],
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if not conditional_check_failed(err):
                raise
            return OkOutcome(self.get(incident_id), False)
        incident = _plain(updated["Attributes"])
        return OkOutcome(incident, int(incident.get("firing") or 0) <= 0)

    # ---------------------------------------------------------------- paging
    def add_timeline(self, incident_id: str, event: str, detail: str = "", *, max_entries: int = 0) -> None:
        """Append a timeline entry (no-op for an unknown incident, or once it has max_entries)."""
        if max_entries:
            # A soft cap (read, then write) is enough here; moto does not evaluate size() on lists.
            current = self.get(incident_id)
            if current is None or len(current.get("timeline", [])) >= max_entries:
                return
        try:
            self._table.update_item(
                Key={"pk": f"INCIDENT#{incident_id}"},
                UpdateExpression="SET timeline = list_append(timeline, :e)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":e": [self._entry(event, detail)]},
            )
        except ClientError as err:
            if not conditional_check_failed(err):
                raise

    def register_task_token(
        self, incident_id: str, token: str, plan_version: int | None = None
    ) -> dict[str, Any]:
        """Remember the waiting execution's task token and return the incident as it now is;
        IncidentClosed if the incident is not open, PlanChanged if its plan is no longer `plan_version`.

        The condition and the acknowledge/resolve/raise updates serialise on the item, so either the
        token is stored first (and the acknowledger or the raise finds it) or the incident changed
        first (and we stop here): no acknowledgement or severity change is ever missed.
        """
        condition = "#s = :open"
        values: dict[str, Any] = {":t": token, ":open": OPEN}
        if plan_version is not None:
            condition += " AND planVersion = :v"
            values[":v"] = plan_version
        try:
            result = self._table.update_item(
                Key={"pk": f"INCIDENT#{incident_id}"},
                UpdateExpression="SET taskToken = :t",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if not conditional_check_failed(err):
                raise
            incident = self.require(incident_id)
            if incident["status"] == OPEN:
                raise PlanChanged(f"incident {incident_id} has a new paging plan") from None
            raise IncidentClosed(
                f"incident {incident_id} is {incident['status']}",
                incident["status"],
                incident.get("acknowledgedBy", ""),
            ) from None
        return _plain(result["Attributes"])

    def record_page(
        self,
        incident_id: str,
        *,
        step: dict[str, Any],
        kind: str,
        delivered: list[str],
        failures: list[dict[str, str]],
        held: list[str] | None = None,
        plan_version: int = 1,
    ) -> dict[str, Any]:
        """Record a page (or final notice): which channels got it, which were held for the digest,
        which failed and why; the incident after the update (an acknowledgement may have landed
        while the tier was paged)."""
        now = self.now()
        page = {
            "at": now,
            "kind": kind,
            "tier": step["tier"],
            "index": step["index"],
            "planVersion": plan_version,
            "delivered": delivered,
            "held": held or [],
        }
        detail = f"tier {step['tier']} via {', '.join(delivered) or 'nothing'}"
        if held:
            detail += f" (held for the digest: {', '.join(held)})"
        entries = [{"at": now, "event": "paged" if kind == "page" else kind, "detail": detail}]
        entries += [
            {"at": now, "event": "channel failed", "detail": f"{f['channel']}: {f['error']}"[:1000]}
            for f in failures
        ]
        names = {"#pt": "pagedTiers", "#cf": "channelFailures", "#tl": "timeline"}
        values: dict[str, Any] = {":p": [page], ":f": failures, ":e": entries}
        expression = "SET #pt = list_append(#pt, :p), #cf = list_append(#cf, :f), #tl = list_append(#tl, :e)"
        reached = [*delivered, *(held or [])]
        if reached:
            expression += " ADD pagedChannels :c, pagedTierChannels :tc"
            values[":c"] = set(reached)
            values[":tc"] = {f"{step['tier']}|{c}" for c in reached}
        result = self._table.update_item(
            Key={"pk": f"INCIDENT#{incident_id}"},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return _plain(result["Attributes"])

    def mark_exhausted(self, incident_id: str, plan_version: int) -> bool:
        """Mark the incident's escalation exhausted unless its plan changed meanwhile (then False)."""
        try:
            self._table.update_item(
                Key={"pk": f"INCIDENT#{incident_id}"},
                UpdateExpression="SET exhausted = :true",
                ConditionExpression="planVersion = :v AND #s = :open",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":true": True, ":v": plan_version, ":open": OPEN},
            )
        except ClientError as err:
            if not conditional_check_failed(err):
                raise
            return False
        return True

    def add_channel_failures(self, incident_id: str, failures: list[dict[str, str]]) -> None:
        """Record failures of follow-up notices (updates, acknowledged, resolved)."""
        if not failures:
            return
        entries = [
            {"at": self.now(), "event": "channel failed", "detail": f"{f['channel']}: {f['error']}"[:1000]}
            for f in failures
        ]
        self._table.update_item(
            Key={"pk": f"INCIDENT#{incident_id}"},
            UpdateExpression="SET channelFailures = list_append(channelFailures, :f), "
            "timeline = list_append(timeline, :e)",
            ExpressionAttributeValues={":f": failures, ":e": entries},
        )

    def set_channel_ref(self, incident_id: str, channel: str, ref: dict[str, str]) -> None:
        """Remember what a channel needs to address this incident again (a ServiceNow sys_id, the
        Slack message a thread hangs off)."""
        self._table.update_item(
            Key={"pk": f"INCIDENT#{incident_id}"},
            UpdateExpression="SET channelRefs.#c = :r",
            ExpressionAttributeNames={"#c": channel},
            ExpressionAttributeValues={":r": ref},
        )

    # ---------------------------------------------------------------- closing
    def acknowledge(self, incident_id: str, *, by: str, via: str, nonce: str | None = None) -> dict[str, Any]:
        """Mark the open incident acknowledged (consuming the link's nonce); the updated incident.

        IncidentNotFound, LinkReplayed (nonce already used) or IncidentClosed (already
        acknowledged or resolved) otherwise — and then nothing changes.
        """
        names = {"#s": "status"}
        values: dict[str, Any] = {
            ":open": OPEN,
            ":ack": ACKNOWLEDGED,
            ":by": by[:200],
            ":via": via,
            ":at": self.now(),
            ":e": [self._entry("acknowledged", f"by {by[:200]} via {via}")],
        }
        expression = (
            "SET #s = :ack, acknowledgedBy = :by, acknowledgedVia = :via, acknowledgedAt = :at, "
            "timeline = list_append(timeline, :e)"
        )
        condition = "attribute_exists(pk) AND #s = :open"
        if nonce:
            expression += " ADD usedNonces :nonces"
            condition += " AND NOT contains(usedNonces, :nonce)"
            values[":nonces"] = {nonce}
            values[":nonce"] = nonce
        try:
            result = self._table.update_item(
                Key={"pk": f"INCIDENT#{incident_id}"},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if not conditional_check_failed(err):
                raise
            incident = self.require(incident_id)
            if nonce and nonce in incident.get("usedNonces", []):
                raise LinkReplayed("this acknowledge link was already used") from None
            by_whom = incident.get("acknowledgedBy", "")
            raise IncidentClosed(
                f"incident is already {incident['status']}" + (f" (by {by_whom})" if by_whom else ""),
                incident["status"],
                by_whom,
            ) from None
        return _plain(result["Attributes"])

    def resolve(self, incident_id: str, *, reason: str) -> dict[str, Any]:
        """Mark the incident resolved once no alarm of it is in ALARM; the updated incident.
        IncidentClosed if it is already resolved or an alarm joined it meanwhile."""
        try:
            result = self._table.update_item(
                Key={"pk": f"INCIDENT#{incident_id}"},
                UpdateExpression="SET #s = :res, resolvedAt = :at, timeline = list_append(timeline, :e)",
                ConditionExpression="#s IN (:open, :ack) "
                "AND (attribute_not_exists(firing) OR firing <= :zero)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":res": RESOLVED,
                    ":open": OPEN,
                    ":ack": ACKNOWLEDGED,
                    ":zero": 0,
                    ":at": self.now(),
                    ":e": [self._entry("resolved", reason)],
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if not conditional_check_failed(err):
                raise
            incident = self.require(incident_id)
            raise IncidentClosed(f"incident is {incident['status']}", incident["status"]) from None
        incident = _plain(result["Attributes"])
        self._release(incident)
        return incident


def ceil_seconds(value: float) -> int:
    """Whole seconds, rounded up (a wait shorter than due would page early)."""
    return max(0, math.ceil(value))
