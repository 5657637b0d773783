"""Jira Service Management Operations / Opsgenie alerts API (same contract, different base URL).

Pages (and an alarm storm's digest) create an alert whose alias is the incident id (the API
de-duplicates on it); later notices are notes on it; acknowledge and resolve use
`/{alias}/acknowledge|close?identifierType=alias`.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from bedrock_watch.channels.http import HttpClient
from bedrock_watch.pages import Message

ALERTS_URL = "https://api.atlassian.com/jsm/ops/integration/v2/alerts"
PRIORITY = {"critical": "P1", "warning": "P3"}


def request(message: Message, alerts_url: str) -> tuple[str, dict[str, Any]]:
    """(URL, body) of the alerts API call for a message."""
    base = alerts_url.rstrip("/")
    alias = urllib.parse.quote(message.incident_id, safe="")
    if message.kind in ("page", "digest"):  # a digest is an alert of its own
        return base, {
            "message": message.title[:130],
            "alias": message.incident_id,
            "description": message.text()[:15000],
            "priority": PRIORITY.get(message.severity, "P3"),
            "source": "bedrock-watch",
            "entity": next((v for k, v in message.facts if k == "Alarm"), ""),
            "tags": ["bedrock-watch", message.severity, f"tier:{message.tier}"],
            "details": {k: v[:500] for k, v in message.facts},
        }
    if message.kind == "acknowledged":
        return f"{base}/{alias}/acknowledge?identifierType=alias", {
            "source": "bedrock-watch",
            "note": message.summary,
        }
    if message.kind == "resolved":
        return f"{base}/{alias}/close?identifierType=alias", {
            "source": "bedrock-watch",
            "note": message.summary,
        }
    return f"{base}/{alias}/notes?identifierType=alias", {
        "source": "bedrock-watch",
        "note": message.text()[:25000],
    }


class JsmChannel:
    def __init__(
        self,
        api_key: str,
        target: str = "default",
        *,
        alerts_url: str = ALERTS_URL,
        http: HttpClient | None = None,
    ) -> None:
        self.name = "jsm" if target == "default" else f"jsm:{target}"
        self._key = api_key
        self._url = alerts_url
        self._http = http or HttpClient()

    def send(self, message: Message, ref: Mapping[str, str] | None = None) -> dict[str, str] | None:
        url, body = request(message, self._url)
        self._http.post_json(self.name, url, body, {"Authorization": f"GenieKey {self._key}"})
        return None
