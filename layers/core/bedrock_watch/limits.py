"""AWS limits the stack is sized against, and the maxima of bedrock-watch's own parameters.

docs/limits.md is the table (limit, AWS value, where it bites, the test guarding it); the infra
tests check the translated template against these numbers at the largest configuration the
maxima allow, and the deploy-time validator and the offline check refuse configurations beyond
them with the field named.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from bedrock_watch.errors import ConfigurationError

# ---------------------------------------------------------------- AWS (docs/limits.md has the sources)
STACK_RESOURCES: Final = 500
STACK_NAME_CHARS: Final = 128
LOGICAL_ID_CHARS: Final = 255
PARAMETER_VALUE_BYTES: Final = 4096
CUSTOM_RESOURCE_RESPONSE_BYTES: Final = 4096
# The reason of a FAILED reply is one part of that response: custom resources cut theirs here.
CUSTOM_RESOURCE_REASON_CHARS: Final = 1000
ALARM_NAME_CHARS: Final = 255
ROLE_INLINE_POLICIES_CHARS: Final = 10_240  # all inline policies of one role together, whitespace excluded
MANAGED_POLICY_CHARS: Final = 6_144
EVENT_PATTERN_CHARS: Final = 2_048  # EventBridge default quota (adjustable)

# ---------------------------------------------------------------- bedrock-watch
# Each MonitoredModels entry adds ALARMS_PER_MONITORED_MODEL alarms. 40 models keep the stack
# near 410 of its 500 resources, leaving room for what later versions add (the infra tests fail
# before that room is gone).
ALARMS_PER_MONITORED_MODEL: Final = 7
MAX_MONITORED_MODELS: Final = 40
# The longest alarm name is "<stack>.model-server-error-rate-critical-<ModelId>": with the
# longest stack name that leaves 93 characters for the model id (an application inference
# profile ARN in any partition fits). The template's MonitoredModels AllowedPattern says the same.
MAX_MONITORED_MODEL_ID_CHARS: Final = 93
# The route seeder's reply carries the probe's IAM resources (two per model provider): its Data
# stays under this so the whole response stays under CUSTOM_RESOURCE_RESPONSE_BYTES with the
# longest stack name (tests/infra/test_limits.py measures the envelope).
ROUTES_REPLY_DATA_BYTES: Final = 3_000
# EscalationAlarmPrefixes go into two EventBridge patterns with the stack's own prefix.
MAX_ESCALATION_ALARM_PREFIXES: Final = 20
MAX_ESCALATION_ALARM_PREFIX_CHARS: Final = 64

_NOT_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9]")


def foreach_key(item: str) -> str:
    """What `&{Identifier}` makes of a Fn::ForEach collection item: its letters and digits only."""
    return _NOT_ALPHANUMERIC.sub("", item)


def check_monitored_models(entries: Sequence[str]) -> None:
    """ConfigurationError naming the problem when MonitoredModels would not deploy as meant.

    Each entry's alarms get logical ids from the entry without its punctuation (Fn::ForEach
    `&{Entry}`), so two entries differing only in punctuation would claim the same ids.
    """
    entries = [e for e in entries if e]
    if len(entries) > MAX_MONITORED_MODELS:
        raise ConfigurationError(
            f"MonitoredModels: {len(entries)} entries, at most {MAX_MONITORED_MODELS} (each adds "
            f"{ALARMS_PER_MONITORED_MODEL} alarms; a stack holds at most {STACK_RESOURCES} resources)"
        )
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        model_id = entry.split("=", 1)[0]
        if len(model_id) > MAX_MONITORED_MODEL_ID_CHARS:
            raise ConfigurationError(
                f"MonitoredModels[{index}]: model id {model_id[:40]!r}... has {len(model_id)} characters, "
                f"at most {MAX_MONITORED_MODEL_ID_CHARS} (alarm names are limited to {ALARM_NAME_CHARS})"
            )
        key = foreach_key(entry)
        if key in seen:
            first = seen[key]
            how = "repeat" if entries[first] == entry else "differ only in punctuation, which CloudFormation"
            raise ConfigurationError(
                f"MonitoredModels[{first}] {entries[first]!r} and MonitoredModels[{index}] {entry!r} {how}"
                + (" drops from their alarms' logical ids" if how != "repeat" else "")
                + ": list each model once"
            )
        seen[key] = index


def check_escalation_alarm_prefixes(prefixes: Sequence[str]) -> None:
    """ConfigurationError when EscalationAlarmPrefixes would make the alarm rules' patterns too large."""
    prefixes = [p for p in prefixes if p]
    if len(prefixes) > MAX_ESCALATION_ALARM_PREFIXES:
        raise ConfigurationError(
            f"EscalationAlarmPrefixes: {len(prefixes)} prefixes, at most {MAX_ESCALATION_ALARM_PREFIXES} "
            f"(they go into EventBridge patterns of at most {EVENT_PATTERN_CHARS} characters)"
        )
    for index, prefix in enumerate(prefixes):
        if len(prefix) > MAX_ESCALATION_ALARM_PREFIX_CHARS:
            raise ConfigurationError(
                f"EscalationAlarmPrefixes[{index}]: {len(prefix)} characters, "
                f"at most {MAX_ESCALATION_ALARM_PREFIX_CHARS}"
            )
