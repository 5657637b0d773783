"""One Bedrock model-invocation log line -> a typed record (FACTS §1).

INTERFACE FIXED BY THE FOUNDATION (the metering pipeline builds on it); the parsing itself is
implemented by the metering issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    """Where a request may be served: in the calling region, a geography, or anywhere."""

    IN_REGION = "in-region"
    GEO = "geo"
    GLOBAL = "global"


class ModelKind(StrEnum):
    FOUNDATION = "foundation"  # base id or foundation-model ARN
    SYSTEM_PROFILE = "system-profile"  # us./eu./apac./jp./au./ca./global. + base id (or its ARN)
    APPLICATION_PROFILE = "application-profile"  # names no model: resolve via GetInferenceProfile
    PROVISIONED = "provisioned"  # provisioned throughput / custom model: no on-demand price
    UNKNOWN = "unknown"


class ErrorClass(StrEnum):
    """Error classes; the value is the metric name (DESIGN metric contract)."""

    THROTTLE = "Throttles"
    TIMEOUT = "Timeouts"
    SERVER = "ServerErrors"
    MODEL = "ModelErrors"
    VALIDATION = "ValidationErrors"
    AUTH = "AuthErrors"
    OTHER = "OtherErrors"


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A normalised model reference.

    `original` is exactly what the caller passed; `base_id` the base model id
    (`anthropic.claude-sonnet-4-5-20250929-v1:0`) — for an unresolved application profile it is
    the profile ARN; `geo` the profile prefix (`us`, `eu`, …) for geographic profiles.
    """

    original: str
    base_id: str
    scope: Scope
    kind: ModelKind
    geo: str | None = None


@dataclass(slots=True)
class InvocationRecord:
    """The figures of one invocation that metering needs. Never holds prompt or response text."""

    request_id: str
    timestamp_ms: int  # the log event's timestamp (finer than the record's own whole seconds)
    operation: str  # InvokeModel | InvokeModelWithResponseStream | Converse | ConverseStream
    model: ModelRef
    region: str
    inference_region: str | None
    application: str | None  # value of the configured requestMetadata key, None when absent
    input_tokens: int = 0  # uncached input only
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0  # all cache writes (5 m + 1 h)
    cache_write_1h_tokens: int = 0  # the part of cache_write_tokens known to be 1-hour writes
    output_tokens: int = 0
    latency_ms: float | None = None
    ttft_ms: float | None = None
    stop_reason: str | None = None  # normalised: max_tokens, end_turn, guardrail_intervened, ...
    service_tier: str | None = None  # priority | default | flex | reserved
    error_code: str | None = None
    error_class: ErrorClass | None = None
    guardrail_intervened: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens + self.output_tokens

    @property
    def truncated(self) -> bool:
        return self.stop_reason == "max_tokens"


@dataclass(frozen=True, slots=True)
class Malformed:
    """A line that is not a valid invocation record; `reason` is short and holds no line content."""

    reason: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A line that is expected and harmless but not a record (the logging set-up line)."""

    reason: str


def parse_line(
    message: str | bytes, *, timestamp_ms: int, application_key: str = "application"
) -> InvocationRecord | Malformed | Skipped:
    """Parse one log event message. Never raises: bad input comes back as Malformed."""
    raise NotImplementedError  # implemented by the metering issue
