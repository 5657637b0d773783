"""Turn environment variables into typed values at cold start, with errors that name the variable.

Handlers build their settings object once from these helpers; domain code takes plain values and
never reads os.environ itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from bedrock_watch.errors import ConfigurationError


def env_str(name: str, default: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The variable's value; ConfigurationError naming it when it is missing and has no default."""
    value = (os.environ if environ is None else environ).get(name)
    if value is None or value == "":
        if default is None:
            raise ConfigurationError(f"environment variable {name} is required but not set")
        return default
    return value


def env_int(
    name: str,
    default: int | None = None,
    *,
    minimum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """The variable as an integer (optionally >= minimum)."""
    raw = env_str(name, None if default is None else str(default), environ)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"environment variable {name} must be >= {minimum}, got {value}")
    return value


def env_float(
    name: str,
    default: float | None = None,
    *,
    minimum: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> float:
    """The variable as a float (optionally >= minimum)."""
    raw = env_str(name, None if default is None else str(default), environ)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name} must be a number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"environment variable {name} must be >= {minimum}, got {value}")
    return value


def env_json(name: str, default: Any = None, environ: Mapping[str, str] | None = None) -> Any:
    """The variable parsed as JSON."""
    raw = env_str(name, None if default is None else json.dumps(default), environ)
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise ConfigurationError(
            f"environment variable {name} is not valid JSON: {err.msg} at {err.pos}"
        ) from None


def env_list(name: str, default: str | None = None, environ: Mapping[str, str] | None = None) -> list[str]:
    """A comma-separated variable as a list of non-empty, stripped items."""
    return [item.strip() for item in env_str(name, default, environ).split(",") if item.strip()]


def event_now(event: Any) -> datetime:
    """The moment a scheduled job assesses: the event's `now` (ISO-8601 with an offset; drills
    and backfills pass one), else the current UTC time."""
    raw = event.get("now") if isinstance(event, dict) else None
    if raw is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        raise ConfigurationError(f"event field 'now' must be an ISO-8601 timestamp, got {raw!r}") from None
    if moment.tzinfo is None:
        raise ConfigurationError(f"event field 'now' must carry a UTC offset, got {raw!r}")
    return moment.astimezone(UTC)


RETRY_ATTEMPTS: Final = 5  # the SDK's standard retry mode: throttles and 5xx, with backoff


def aws_client(service: str, region: str | None = None, *, attempts: int = RETRY_ATTEMPTS) -> Any:
    """A boto3 client with the SDK's standard retries (`attempts` in all). boto3 is imported
    here, on first use, so a module that needs a client only sometimes keeps it out of its
    import (the metering handler's import budget)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": attempts})
    return boto3.client(service, region_name=region, config=config)  # type: ignore[call-overload]
