"""The PagerDuty Events API v2 request body, as a JSON Schema written from PagerDuty's
published contract (developer.pagerduty.com, "Send an Alert Event"; the Events v2 OpenAPI
document in PagerDuty/api-schema): `routing_key` and `event_action` (trigger | acknowledge |
resolve) always; a trigger needs `payload` with `summary` (at most 1,024 characters), `source` and
`severity` (critical | error | warning | info), `custom_details` an object; links need `href`;
`dedup_key` at most 255 characters, required unless triggering.

    assert_events_v2(body)   # raises AssertionError naming the first violation
"""

from __future__ import annotations

from typing import Any

import jsonschema

_LINK = {
    "type": "object",
    "required": ["href"],
    "properties": {"href": {"type": "string", "minLength": 1}, "text": {"type": "string"}},
}
_PAYLOAD = {
    "type": "object",
    "required": ["summary", "source", "severity"],
    "properties": {
        "summary": {"type": "string", "minLength": 1, "maxLength": 1024},
        "source": {"type": "string", "minLength": 1},
        "severity": {"enum": ["critical", "error", "warning", "info"]},
        "timestamp": {"type": "string"},
        "component": {"type": "string"},
        "group": {"type": "string"},
        "class": {"type": "string"},
        "custom_details": {"type": "object"},
    },
}
EVENTS_V2 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["routing_key", "event_action"],
    "properties": {
        "routing_key": {"type": "string", "minLength": 1},
        "event_action": {"enum": ["trigger", "acknowledge", "resolve"]},
        "dedup_key": {"type": "string", "minLength": 1, "maxLength": 255},
        "client": {"type": "string"},
        "client_url": {"type": "string"},
        "payload": _PAYLOAD,
        "links": {"type": "array", "items": _LINK},
        "images": {"type": "array", "items": {"type": "object", "required": ["src"]}},
    },
    "allOf": [
        {"if": {"properties": {"event_action": {"const": "trigger"}}}, "then": {"required": ["payload"]}},
        {
            "if": {"properties": {"event_action": {"enum": ["acknowledge", "resolve"]}}},
            "then": {"required": ["dedup_key"]},
        },
    ],
    "additionalProperties": False,
}


def assert_events_v2(body: Any) -> None:
    """Fail with the first way `body` breaks the Events API v2 contract."""
    errors = sorted(jsonschema.Draft202012Validator(EVENTS_V2).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"not an Events API v2 body: {errors[0].message} at {list(errors[0].path)}"
