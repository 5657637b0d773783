"""ServiceNow ITSM incidents through the Table API (`/api/now/table/incident`).

One ServiceNow incident per bedrock-watch incident, whichever tier and target reaches it: the
record carries our incident id as `correlation_id`, and its `sys_id` is kept on our incident (the
channel's reference) once known. The first page creates it (POST, after a lookup by
`correlation_id` so a retried task or a second target finds the one that exists); a later tier
re-assigns it to that tier's group with a work note; an update (an alarm of the same cause, a
raised severity) is a work note (and the urgency, when raised); an acknowledgement moves it to In
Progress; the resolution resolves it (state 6 with a close code and notes, which ServiceNow's
default data policy requires).

Only the page's allow-listed facts go into it (the same as every channel: never prompt or
response text). Journal fields render `[code]…[/code]` as HTML, so that tag is neutralised in
everything written to them. Auth: basic (a user with the `itil` role, or a narrower role with
create/write on incident), from the channel secret:

    "servicenow": {"instanceUrl": "https://<instance>.service-now.com", "username": "...",
                   "password": "...", "assignmentGroups": {"devops": "<group name or sys_id>"},
                   "closeCode": "Solution provided", "webhookSecret": "..."}
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from bedrock_watch.channels import ChannelRejected
from bedrock_watch.channels.http import HttpClient
from bedrock_watch.pages import Message

TABLE = "/api/now/table/incident"
# urgency and impact: 1 high, 2 medium, 3 low (priority follows from them)
URGENCY = {"critical": "1", "warning": "2"}
IMPACT = {"critical": "2", "warning": "3"}
STATE_IN_PROGRESS = "2"
STATE_RESOLVED = "6"
DEFAULT_CLOSE_CODE = "Solution provided"
SHORT_DESCRIPTION_MAX = 160
_CODE_TAG = re.compile(r"\[(/?)code\]", re.IGNORECASE)


def journal(text: str) -> str:
    """Text shown literally in a ServiceNow journal field (work notes): `[code]` would switch the
    rest to raw HTML, so the tag is broken up."""
    return _CODE_TAG.sub(lambda m: f"[{m.group(1)}code\u200b]", text)


def _facts(message: Message) -> str:
    return "\n".join(f"{label}: {value}" for label, value in message.facts)


class ServiceNowChannel:
    def __init__(
        self,
        instance_url: str,
        username: str,
        password: str,
        target: str = "default",
        *,
        assignment_group: str = "",
        close_code: str = DEFAULT_CLOSE_CODE,
        http: HttpClient | None = None,
    ) -> None:
        self.name = "servicenow" if target == "default" else f"servicenow:{target}"
        self._base = instance_url.rstrip("/") + TABLE
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"}
        self._group = assignment_group
        self._close_code = close_code or DEFAULT_CLOSE_CODE
        self._http = http or HttpClient()

    # ---------------------------------------------------------------- Table API calls
    def _call(self, method: str, url: str, payload: Any = None) -> Any:
        response = self._http.request_json(self.name, method, url, payload, self._headers)
        try:
            result = json.loads(response.body or b"{}").get("result")
        except (ValueError, AttributeError):
            raise ChannelRejected(f"{self.name}: the Table API answered something that is not JSON") from None
        return result

    def _find(self, incident_id: str) -> dict[str, str] | None:
        query = urllib.parse.urlencode(
            {
                "sysparm_query": f"correlation_id={incident_id}^ORDERBYsys_created_on",
                "sysparm_fields": "sys_id,number",
                "sysparm_limit": "1",
            }
        )
        found = self._call("GET", f"{self._base}?{query}")
        if isinstance(found, list) and found and isinstance(found[0], dict) and found[0].get("sys_id"):
            return {"sys_id": str(found[0]["sys_id"]), "number": str(found[0].get("number", ""))}
        return None

    def _create(self, message: Message) -> dict[str, str]:
        body: dict[str, str] = {
            "short_description": message.title[:SHORT_DESCRIPTION_MAX],
            # no acknowledge link: a ServiceNow record outlives it (ServiceNow acknowledges through
            # its Business Rule, README "Setting up the channels")
            "description": dataclasses.replace(message, ack_url="", ack_token="").text()[:30000],
            "urgency": URGENCY.get(message.severity, "2"),
            "impact": IMPACT.get(message.severity, "3"),
            "correlation_id": message.incident_id,
            "correlation_display": "bedrock-watch",
            "contact_type": "monitoring",
            "work_notes": journal(f"Opened by bedrock-watch, tier {message.tier}."),
        }
        if self._group:
            body["assignment_group"] = self._group
        query = "sysparm_fields=sys_id,number&sysparm_input_display_value=true"
        created = self._call("POST", f"{self._base}?{query}", body)
        if not isinstance(created, dict) or not created.get("sys_id"):
            raise ChannelRejected(f"{self.name}: the Table API created no record (no sys_id in its answer)")
        return {"sys_id": str(created["sys_id"]), "number": str(created.get("number", ""))}

    def _update(self, sys_id: str, fields: dict[str, str]) -> None:
        query = "sysparm_fields=sys_id&sysparm_input_display_value=true"
        self._call("PATCH", f"{self._base}/{urllib.parse.quote(sys_id, safe='')}?{query}", fields)

    # ---------------------------------------------------------------- the channel
    def send(self, message: Message, ref: Mapping[str, str] | None = None) -> dict[str, str] | None:
        record = dict(ref) if ref and ref.get("sys_id") else self._find(message.incident_id)
        if record is None:
            if message.kind in ("acknowledged", "resolved"):
                return None  # nothing was ever opened there: nothing to close
            return self._create(message)
        note = journal(f"{message.title}\n\n{message.summary}\n\n{_facts(message)}".strip())[:30000]
        fields: dict[str, str] = {"work_notes": note}
        if message.kind in ("page", "final") and self._group:
            fields["assignment_group"] = self._group  # the next tier's group takes it over
        if message.kind in ("page", "final", "update"):
            fields["urgency"] = URGENCY.get(message.severity, "2")
            fields["impact"] = IMPACT.get(message.severity, "3")
        if message.kind == "acknowledged":
            fields["state"] = STATE_IN_PROGRESS
        if message.kind == "resolved":
            fields.update(
                state=STATE_RESOLVED,
                close_code=self._close_code,
                close_notes=journal(message.summary)[:4000] or "Every bedrock-watch alarm is OK again.",
            )
        self._update(record["sys_id"], fields)
        return record
