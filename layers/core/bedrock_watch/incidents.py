"""The incident store (DynamoDB): one incident per alarm episode, its state, pages and timeline.

Items share one table, keyed by `pk`:
- `INCIDENT#<id>`: the incident. The id is derived from the alarm ARN and the timestamp of its
  ALARM transition, so a re-delivered event (EventBridge is at-least-once) maps to the same id.
- `ALARM#<alarm name>`: points at the alarm's open incident. Set with a condition, it is what
  keeps a flapping alarm (a new ALARM transition before OK) from opening a second incident; OK
  clears it, so ALARM -> OK -> ALARM opens two.
Every item carries `expiresAt` (TTL).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from bedrock_watch.errors import BedrockWatchError
from bedrock_watch.signing import InvalidSignature

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

MAX_TIMELINE = 200  # entries; repeated ALARM transitions stop being recorded past this
OPEN = "open"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"


class IncidentNotFound(BedrockWatchError):
    """No incident has this id."""


class IncidentClosed(BedrockWatchError):
    """The incident is no longer open (acknowledged or resolved): escalation stops here."""

    def __init__(self, message: str, status: str = "", by: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.by = by


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


def _conditional_failed(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


@dataclass(frozen=True, slots=True)
class OpenOutcome:
    opened: bool
    incident_id: str
    reason: str


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
        self._retention = retention_days * 86400
        self._clock = clock

    def now(self) -> str:
        return datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="milliseconds")

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

    def open_incident_for(self, alarm_name: str, *, ok_at: float | None = None) -> str | None:
        """Id of the alarm's open (unresolved) incident, if any; with `ok_at` (the time of an OK
        transition), only if that episode began before it (an older OK does not end a newer ALARM)."""
        item = self._table.get_item(Key={"pk": f"ALARM#{alarm_name}"}, ConsistentRead=True).get("Item")
        value = (item or {}).get("openIncidentId")
        if not value:
            return None
        began = _plain((item or {}).get("episodeAt"))
        if ok_at is not None and isinstance(began, int | float) and began > ok_at:
            return None
        return str(value)

    def note_ok(self, alarm_name: str, ok_at: float) -> None:
        """Remember the alarm's latest OK transition: an ALARM event from before it that arrives
        late (EventBridge does not promise order) must not open an incident."""
        try:
            self._table.update_item(
                Key={"pk": f"ALARM#{alarm_name}"},
                UpdateExpression="SET lastOkAt = :t, alarmName = :name, expiresAt = :exp",
                ConditionExpression="attribute_not_exists(lastOkAt) OR lastOkAt < :t",
                ExpressionAttributeValues={
                    ":t": _dynamo(ok_at),
                    ":name": alarm_name,
                    ":exp": self._expires(),
                },
            )
        except ClientError as err:
            if not _conditional_failed(err):
                raise

    # ---------------------------------------------------------------- writes
    def open(
        self,
        *,
        incident_id: str,
        alarm_name: str,
        severity: str,
        context: dict[str, Any],
        steps: list[dict[str, Any]],
        alarm_at: float | None = None,
    ) -> OpenOutcome:
        """Open the episode's incident unless this event is a duplicate, the alarm already has one,
        or the alarm was OK again after `alarm_at` (the epoch of this ALARM transition)."""
        pointer = {"pk": f"ALARM#{alarm_name}"}
        values: dict[str, Any] = {":id": incident_id, ":name": alarm_name, ":exp": self._expires()}
        condition = "(attribute_not_exists(openIncidentId) OR openIncidentId = :id)"
        update = "SET openIncidentId = :id, alarmName = :name, expiresAt = :exp"
        if alarm_at is not None:
            condition += " AND (attribute_not_exists(lastOkAt) OR lastOkAt < :at)"
            update += ", episodeAt = :at"
            values[":at"] = _dynamo(alarm_at)
        try:
            self._table.update_item(
                Key=pointer,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as err:
            if not _conditional_failed(err):
                raise
            seen = _plain(self._table.get_item(Key=pointer, ConsistentRead=True).get("Item") or {})
            last_ok = seen.get("lastOkAt")
            if alarm_at is not None and isinstance(last_ok, int | float) and last_ok >= alarm_at:
                return OpenOutcome(False, "", "the alarm is already OK again (its OK event arrived first)")
            current = self.open_incident_for(alarm_name) or ""
            if current:
                # bounded: an alarm flapping for days must not grow the item towards 400 KB
                self.add_timeline(
                    current,
                    "alarm entered ALARM again",
                    f"episode {incident_id} folded into this one",
                    max_entries=MAX_TIMELINE,
                )
            return OpenOutcome(False, current, "an incident is already open for this alarm")
        now = self.now()
        item = {
            "pk": f"INCIDENT#{incident_id}",
            "incidentId": incident_id,
            "alarmName": alarm_name,
            "severity": severity,
            "status": OPEN,
            "exhausted": False,
            "openedAt": now,
            "context": context,
            "steps": steps,
            "pagedTiers": [],
            "channelFailures": [],
            "timeline": [{"at": now, "event": "opened", "detail": context.get("state_reason", "")[:1000]}],
            "expiresAt": self._expires(),
        }
        try:
            self._table.put_item(Item=_dynamo(item), ConditionExpression="attribute_not_exists(pk)")
        except ClientError as err:
            if not _conditional_failed(err):
                raise
            existing = self.get(incident_id) or {}
            if existing.get("status") == RESOLVED:
                # A late duplicate of an episode that is already over must not re-arm the pointer.
                self._clear_pointer(alarm_name, incident_id)
            return OpenOutcome(False, incident_id, "duplicate event for an incident already opened")
        return OpenOutcome(True, incident_id, "opened")

    def _clear_pointer(self, alarm_name: str, incident_id: str) -> None:
        try:
            self._table.update_item(
                Key={"pk": f"ALARM#{alarm_name}"},
                UpdateExpression="REMOVE openIncidentId",
                ConditionExpression="openIncidentId = :id",
                ExpressionAttributeValues={":id": incident_id},
            )
        except ClientError as err:
            if not _conditional_failed(err):
                raise

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
            if not _conditional_failed(err):
                raise

    def register_task_token(self, incident_id: str, token: str) -> None:
        """Remember the waiting execution's task token; IncidentClosed if the incident is not open.

        The condition and the acknowledge/resolve updates serialise on the item, so either the
        token is stored first (and the acknowledger finds it) or the incident is closed first (and
        we stop here): no acknowledgement is ever missed.
        """
        try:
            self._table.update_item(
                Key={"pk": f"INCIDENT#{incident_id}"},
                UpdateExpression="SET taskToken = :t",
                ConditionExpression="#s = :open",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":t": token, ":open": OPEN},
            )
        except ClientError as err:
            if not _conditional_failed(err):
                raise
            incident = self.require(incident_id)
            raise IncidentClosed(
                f"incident {incident_id} is {incident['status']}",
                incident["status"],
                incident.get("acknowledgedBy", ""),
            ) from None

    def record_page(
        self,
        incident_id: str,
        *,
        step: dict[str, Any],
        kind: str,
        delivered: list[str],
        failures: list[dict[str, str]],
    ) -> dict[str, Any]:
        """Record a page (or final notice): which channels got it, which failed and why; the
        incident after the update (an acknowledgement may have landed while the tier was paged)."""
        now = self.now()
        page = {"at": now, "kind": kind, "tier": step["tier"], "index": step["index"], "delivered": delivered}
        detail = f"tier {step['tier']} via {', '.join(delivered) or 'nothing'}"
        entries = [{"at": now, "event": "paged" if kind == "page" else kind, "detail": detail}]
        entries += [
            {"at": now, "event": "channel failed", "detail": f"{f['channel']}: {f['error']}"[:1000]}
            for f in failures
        ]
        names = {"#pt": "pagedTiers", "#cf": "channelFailures", "#tl": "timeline"}
        values: dict[str, Any] = {":p": [page], ":f": failures, ":e": entries}
        expression = "SET #pt = list_append(#pt, :p), #cf = list_append(#cf, :f), #tl = list_append(#tl, :e)"
        if delivered:
            expression += " ADD pagedChannels :c"
            values[":c"] = set(delivered)
        if kind == "final":
            expression = expression.replace("SET ", "SET exhausted = :true, ", 1)
            values[":true"] = True
        result = self._table.update_item(
            Key={"pk": f"INCIDENT#{incident_id}"},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return _plain(result["Attributes"])

    def add_channel_failures(self, incident_id: str, failures: list[dict[str, str]]) -> None:
        """Record failures of follow-up notices (acknowledged/resolved)."""
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
            if not _conditional_failed(err):
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
        """Mark the incident resolved and release the alarm for a new episode; the updated incident."""
        try:
            result = self._table.update_item(
                Key={"pk": f"INCIDENT#{incident_id}"},
                UpdateExpression="SET #s = :res, resolvedAt = :at, timeline = list_append(timeline, :e)",
                ConditionExpression="#s IN (:open, :ack)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":res": RESOLVED,
                    ":open": OPEN,
                    ":ack": ACKNOWLEDGED,
                    ":at": self.now(),
                    ":e": [self._entry("resolved", reason)],
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if not _conditional_failed(err):
                raise
            incident = self.require(incident_id)
            raise IncidentClosed(f"incident is already {incident['status']}", incident["status"]) from None
        incident = _plain(result["Attributes"])
        self._clear_pointer(incident["alarmName"], incident_id)
        return incident
