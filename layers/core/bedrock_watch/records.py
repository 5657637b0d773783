"""One Bedrock model-invocation log line -> a typed record (FACTS §1).

The dataclasses are the interface the pipeline builds on; `parse_line` is the entry point for one
line, and `read_events` the same parse over a delivery for the metering hot path, which takes the
fields as plain tuples (RecordRow) instead of records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from operator import attrgetter
from typing import Any, Final, NoReturn

import orjson

from bedrock_watch.contract import ROUTE_METADATA_KEY


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
    service_tier: str | None = None  # priority | default | flex | reserved: the tier that served it
    error_code: str | None = None
    error_class: ErrorClass | None = None
    guardrail_intervened: bool = False
    # True when no served tier was logged and `service_tier` is the tier the request asked for.
    service_tier_requested: bool = False
    route: str | None = None  # requestMetadata `route` (bedrock_watch.routing tags it), None when absent
    identity: str | None = None  # identity.arn: the caller principal, None when absent

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens + self.output_tokens

    @property
    def truncated(self) -> bool:
        return self.stop_reason == "max_tokens"

    def row(self) -> RecordRow:
        """The record's fields in their order, as `read_events` gives them."""
        return _ROW(self)


# An InvocationRecord's fields as a plain tuple, in the dataclass's order: what `read_events` gives
# and the meter aggregates (a tuple is built and unpacked in C; a 22-field dataclass costs more to
# build than everything the meter then does with it).
RecordRow = tuple[
    str,  # request_id
    int,  # timestamp_ms
    str,  # operation
    ModelRef,  # model
    str,  # region
    str | None,  # inference_region
    str | None,  # application
    int,  # input_tokens
    int,  # cache_read_tokens
    int,  # cache_write_tokens
    int,  # cache_write_1h_tokens
    int,  # output_tokens
    float | None,  # latency_ms
    float | None,  # ttft_ms
    str | None,  # stop_reason
    str | None,  # service_tier
    str | None,  # error_code
    ErrorClass | None,  # error_class
    bool,  # guardrail_intervened
    bool,  # service_tier_requested
    str | None,  # route
    str | None,  # identity
]
_ROW: Final = attrgetter(*(f.name for f in fields(InvocationRecord)))


@dataclass(frozen=True, slots=True)
class Malformed:
    """A line that is not a valid invocation record; `reason` is short and holds no line content."""

    reason: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A line that is expected and harmless but not a record (the logging set-up line)."""

    reason: str


# ---------------------------------------------------------------------------------------------
# Parsing. Hot path: the handler must stay within 1.5x of (base64 + gunzip + orjson.loads), so
# after the single orjson parse we only do dict lookups, isinstance checks and a cached model-id
# normalisation — no regexes, no copies of bodies.
# ---------------------------------------------------------------------------------------------

SCHEMA_TYPE: Final = "ModelInvocationLog"
SCHEMA_VERSION: Final = "1.0"
SETUP_LINE: Final = "Permissions are correctly set for Amazon Bedrock logs."
SETUP_LINE_REASON: Final = "setup-line"  # why the set-up line is Skipped

# System inference-profile prefixes (FACTS §1.3); `global` is the only non-geographic one.
GEO_PREFIXES: Final = frozenset({"us", "eu", "apac", "jp", "au", "ca", "us-gov"})
GLOBAL_PREFIX: Final = "global"

# ARN resource types that carry no on-demand token price (provisioned throughput, custom and
# imported models).
_PROVISIONED_RESOURCES: Final = frozenset(
    {"provisioned-model", "custom-model", "custom-model-deployment", "imported-model"}
)

# errorCode -> class (FACTS §1.2), keyed without the "Exception" suffix so both spellings match.
_ERROR_CLASSES: Final[dict[str, ErrorClass]] = {
    "Throttling": ErrorClass.THROTTLE,
    "ServiceQuotaExceeded": ErrorClass.THROTTLE,
    "ModelNotReady": ErrorClass.THROTTLE,
    "TooManyRequests": ErrorClass.THROTTLE,
    "ModelTimeout": ErrorClass.TIMEOUT,
    "Validation": ErrorClass.VALIDATION,
    "ResourceNotFound": ErrorClass.VALIDATION,
    "AccessDenied": ErrorClass.AUTH,
    "UnrecognizedClient": ErrorClass.AUTH,
    "ExpiredToken": ErrorClass.AUTH,
    "InvalidSignature": ErrorClass.AUTH,
    "IncompleteSignature": ErrorClass.AUTH,
    "MissingAuthenticationToken": ErrorClass.AUTH,
    "Unauthorized": ErrorClass.AUTH,
    "ModelError": ErrorClass.MODEL,
    "ModelStreamError": ErrorClass.MODEL,
    "InternalServer": ErrorClass.SERVER,
    "ServiceUnavailable": ErrorClass.SERVER,
}

# Provider-specific stop reasons -> the Converse vocabulary (FACTS §1.1). Llama/Mistral say
# "length", Titan "LENGTH"/"FINISH"; everything is lower-cased before this lookup.
_STOP_ALIASES: Final[dict[str, str]] = {
    "length": "max_tokens",
    "max_tokens": "max_tokens",
    "finish": "end_turn",
    "stop": "end_turn",
    "end_turn": "end_turn",
    "complete": "end_turn",
    "content_filter": "content_filtered",
}
_STOP_KEYS: Final = ("stopReason", "stop_reason", "completionReason", "finish_reason")
_STOP_WRAPPERS: Final = ("delta", "messageStop")
_STOP_LISTS: Final = ("outputs", "results", "choices", "generations")
_STOP_FIELDS: Final = frozenset((*_STOP_KEYS, *_STOP_WRAPPERS, *_STOP_LISTS))
GUARDRAIL_STOP_REASONS: Final = frozenset({"guardrail_intervened", "content_filtered"})
_MAX_ENUM_LENGTH: Final = 40  # stop reasons and tiers are short enums
_INVOCATION_METRICS: Final = "amazon-bedrock-invocationMetrics"
_GUARDRAIL_ACTION: Final = "amazon-bedrock-guardrailAction"


class _Bad(Exception):
    """Internal: the line is malformed for `reason` (never escapes read_events)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Skip(_Bad):
    """Internal: an expected, harmless line that is not a record."""


def error_class(code: str) -> ErrorClass:
    """The metric class of a bedrock-runtime error code (FACTS §1.2); OTHER when unknown."""
    return _ERROR_CLASSES.get(code.removesuffix("Exception"), ErrorClass.OTHER)


def normalise_stop_reason(value: str) -> str:
    """A provider's stop reason in the Converse vocabulary (`length` -> `max_tokens`, ...)."""
    lowered = value.lower()
    if len(lowered) > _MAX_ENUM_LENGTH:
        return "other"  # a model-controlled field: never carry free text into metrics or logs
    return _STOP_ALIASES.get(lowered, lowered)


# Raw stop reason -> normalised; providers use a handful of values, so this stays tiny. Bounded
# all the same: the field is model-controlled.
_STOP_CACHE: dict[str, str] = {}
_STOP_CACHE_MAX: Final = 256


def _normalise_and_cache(value: str) -> str:
    normal = normalise_stop_reason(value)
    if len(_STOP_CACHE) < _STOP_CACHE_MAX:
        _STOP_CACHE[value] = normal
    return normal


def _parse_profile_id(original: str, profile_id: str) -> ModelRef:
    prefix, dot, rest = profile_id.partition(".")
    if dot and rest:
        if prefix == GLOBAL_PREFIX:
            return ModelRef(original, rest, Scope.GLOBAL, ModelKind.SYSTEM_PROFILE, None)
        if prefix in GEO_PREFIXES:
            return ModelRef(original, rest, Scope.GEO, ModelKind.SYSTEM_PROFILE, prefix)
    return ModelRef(original, profile_id, Scope.IN_REGION, ModelKind.FOUNDATION, None)


def _parse_model(model_id: str) -> ModelRef:
    if not model_id.startswith("arn:"):
        return _parse_profile_id(model_id, model_id)
    # arn:<partition>:bedrock:<region>:<account>:<resource-type>/<resource-id>
    parts = model_id.split(":", 5)
    resource_type, slash, resource_id = parts[5].partition("/") if len(parts) == 6 else ("", "", "")
    if not slash or not resource_id:
        return ModelRef(model_id, model_id, Scope.IN_REGION, ModelKind.UNKNOWN, None)
    if resource_type == "foundation-model":
        return ModelRef(model_id, resource_id, Scope.IN_REGION, ModelKind.FOUNDATION, None)
    if resource_type == "inference-profile":
        ref = _parse_profile_id(model_id, resource_id)
        if ref.kind is ModelKind.SYSTEM_PROFILE:
            return ref
        return ModelRef(model_id, model_id, Scope.IN_REGION, ModelKind.UNKNOWN, None)
    if resource_type == "application-inference-profile":
        # Names no model: base_id stays the ARN until ProfileResolver resolves it.
        return ModelRef(model_id, model_id, Scope.IN_REGION, ModelKind.APPLICATION_PROFILE, None)
    if resource_type in _PROVISIONED_RESOURCES:
        return ModelRef(model_id, model_id, Scope.IN_REGION, ModelKind.PROVISIONED, None)
    return ModelRef(model_id, model_id, Scope.IN_REGION, ModelKind.UNKNOWN, None)


# Model ids repeat across a batch and across invocations of a warm container: normalise once.
_MODEL_CACHE: dict[str, ModelRef] = {}
_MODEL_CACHE_MAX: Final = 4096


def parse_model_id(model_id: str) -> ModelRef:
    """Normalise a modelId as the caller passed it (base id, profile id, or an ARN of either)."""
    ref = _MODEL_CACHE.get(model_id)
    if ref is None:
        if len(_MODEL_CACHE) >= _MODEL_CACHE_MAX:
            _MODEL_CACHE.clear()  # a caller inventing ids must not grow memory without bound
        ref = _MODEL_CACHE[model_id] = _parse_model(model_id)
    return ref


def _count(section: dict[str, Any], key: str) -> int:
    value = section.get(key)
    if value is None:
        return 0
    # type() rather than isinstance: bool is an int subclass and `true` is not a token count.
    if type(value) is not int:
        raise _Bad(f"{key} is not an integer")
    if value < 0:
        raise _Bad(f"{key} is negative")
    return value


def _opt_str(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None or type(value) is str:
        return value
    raise _Bad(f"{key} is not a string")


def _millis(value: Any) -> float | None:
    """Milliseconds as logged: whole ones stay ints (an EMF sample `812` is two bytes less than
    `812.0`, and the meter appends samples as they come); negative or odd values are unknown."""
    # Body fields are model-specific, not the log schema: an odd value is ignored, not fatal.
    if type(value) is int:
        return value if value >= 0 else None
    if type(value) is float and value >= 0:
        return int(value) if value.is_integer() else value
    return None


def _one_hour_writes(usage: Any) -> int:
    """The 1-hour share of the cache writes: Anthropic-native `cache_creation` or Converse
    `cacheDetails` (`[{"ttl": "1h", "inputTokens": N}, {"ttl": "5m", …}]`)."""
    if type(usage) is dict:
        creation = usage.get("cache_creation")
        if type(creation) is dict:
            value = creation.get("ephemeral_1h_input_tokens")
            if type(value) is int and value > 0:
                return value
        details = usage.get("cacheDetails")
        if type(details) is list:
            total = 0
            for detail in details:
                if type(detail) is dict and detail.get("ttl") == "1h":
                    value = detail.get("inputTokens")
                    if type(value) is int and value > 0:
                        total += value
            return total
    return 0


def _tier(value: Any) -> str | None:
    # Converse answers `"serviceTier": {"type": "flex"}`; accept a bare string too.
    if type(value) is dict:
        value = value.get("type")
    if type(value) is str and 0 < len(value) <= _MAX_ENUM_LENGTH:
        return value.lower()
    return None


# What a body adds to a record, in this order: (stop_reason, latency_ms, ttft_ms, service_tier,
# cache_write_1h_tokens, guardrail_intervened). The readers return a tuple rather than write into
# a record: the metering hot path never builds one (see RecordRow).
BodyFigures = tuple[str | None, float | None, float | None, str | None, int, bool]
_NO_BODY: Final[BodyFigures] = (None, None, None, None, 0, False)


def _object_body(body: dict[str, Any]) -> BodyFigures:
    """Converse/ConverseStream bodies and InvokeModel bodies (one JSON object)."""
    get = body.get
    stop = get("stopReason")  # Converse and Nova: the common case, without the provider walk
    if type(stop) is not str:
        stop = _stop_reason_of(body)
    if stop is not None:
        stop = _STOP_CACHE.get(stop) or _normalise_and_cache(stop)
    latency = ttft = tier = None
    one_hour = 0
    metrics = get("metrics")
    if type(metrics) is dict:
        latency = metrics.get("latencyMs")
        if type(latency) is not int or latency < 0:  # whole, non-negative: as logged (no call)
            latency = _millis(latency)
    value = get("serviceTier")
    if value is not None:
        tier = _tier(value)
    usage = get("usage")
    if type(usage) is dict and ("cache_creation" in usage or "cacheDetails" in usage):
        one_hour = _one_hour_writes(usage)
    metadata = get("metadata")  # ConverseStream logged as its metadata event
    if type(metadata) is dict:
        one_hour, tier = _stream_metadata(metadata, one_hour, tier)
    invocation = get(_INVOCATION_METRICS)
    if type(invocation) is dict:
        latency, ttft = _invocation_metrics(invocation, latency, ttft)
    return stop, latency, ttft, tier, one_hour, get(_GUARDRAIL_ACTION) == "INTERVENED"


def _stream_metadata(metadata: dict[str, Any], one_hour: int, tier: str | None) -> tuple[int, str | None]:
    """A ConverseStream `metadata` event: usage (with `cacheDetails`) and the served tier, over
    what was read before it."""
    usage = metadata.get("usage")
    if type(usage) is dict and "cacheDetails" in usage:
        one_hour = _one_hour_writes(usage)
    value = metadata.get("serviceTier")
    if value is not None:
        tier = _tier(value) or tier
    return one_hour, tier


def _invocation_metrics(
    metrics: dict[str, Any], latency: float | None, ttft: float | None
) -> tuple[float | None, float | None]:
    found = _millis(metrics.get("invocationLatency"))
    if found is not None:
        latency = found
    found = _millis(metrics.get("firstByteLatency"))
    if found is not None:
        ttft = found
    return latency, ttft


def _chunks_body(chunks: list[Any]) -> BodyFigures:
    """InvokeModelWithResponseStream: the body is the list of decoded stream chunks."""
    if not chunks:
        return _NO_BODY
    stop = latency = ttft = tier = None
    one_hour = 0
    guardrail = False
    first = chunks[0]
    if type(first) is dict and first.get("type") == "message_start":  # Anthropic-native
        message = first.get("message")
        if type(message) is dict:
            one_hour = _one_hour_writes(message.get("usage"))
    # Stop reason and invocation metrics sit in the last chunks: walk back until both are found.
    need_stop = need_metrics = True
    for chunk in reversed(chunks):
        if type(chunk) is not dict:
            continue
        if need_metrics:
            invocation = chunk.get(_INVOCATION_METRICS)
            if type(invocation) is dict:
                latency, ttft = _invocation_metrics(invocation, latency, ttft)
                need_metrics = False
        # ConverseStream / Nova metadata event (usage with cacheDetails, served tier): it comes
        # last, so the walk back (which stops once stop reason and metrics are found) meets it.
        metadata = chunk.get("metadata")
        if type(metadata) is dict:
            one_hour, tier = _stream_metadata(metadata, one_hour, tier)
        if chunk.get(_GUARDRAIL_ACTION) == "INTERVENED":
            guardrail = True
        if need_stop:
            found = _stop_reason_of(chunk)
            if found is not None:
                stop = _STOP_CACHE.get(found) or _normalise_and_cache(found)
                need_stop = False
        if not (need_stop or need_metrics):
            break
    return stop, latency, ttft, tier, one_hour, guardrail


def _stop_reason_of(obj: dict[str, Any]) -> str | None:
    """The stop reason of a body or stream chunk, whatever the provider's shape."""
    if _STOP_FIELDS.isdisjoint(obj):
        # Most stream chunks hold none of the fields: one pass over their few keys (in C)
        # instead of probing all ten names.
        return None
    for key in _STOP_KEYS:  # Converse/Nova, Anthropic/Llama, Titan stream, Cohere
        stop = obj.get(key)
        if type(stop) is str:
            return stop
    for key in _STOP_WRAPPERS:  # Anthropic message_delta, Nova messageStop
        inner = obj.get(key)
        if type(inner) is dict:
            for stop_key in _STOP_KEYS:
                stop = inner.get(stop_key)
                if type(stop) is str:
                    return stop
    for key in _STOP_LISTS:  # Mistral outputs, Titan results, OpenAI-style choices
        items = obj.get(key)
        if type(items) is list and items and type(items[-1]) is dict:
            last = items[-1]
            for stop_key in _STOP_KEYS:
                stop = last.get(stop_key)
                if type(stop) is str:
                    return stop
    return None


def _is_setup_line(message: str | bytes) -> bool:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes | bytearray) else message
    return isinstance(text, str) and text.strip() == SETUP_LINE


def _undecodable(message: str | bytes, err: orjson.JSONDecodeError) -> NoReturn:
    """Why `message` is not JSON: the set-up line is skipped, anything else is malformed."""
    if _is_setup_line(message):
        raise _Skip(SETUP_LINE_REASON) from None
    if "end of data" in str(err):
        raise _Bad("truncated JSON") from None
    raise _Bad("not JSON") from None


def _build(doc: Any, timestamp_ms: int, application_key: str) -> RecordRow:
    # The per-record hot path: every well-formed value takes one `get` and one type check; the
    # helpers (_count, _opt_str, parse_model_id) only run for odd values, to name the problem,
    # or on a cache miss. Checks run in the same order as the fields so a line with several
    # problems always reports the same one.
    if type(doc) is not dict:
        raise _Bad("not a JSON object")
    get = doc.get
    if get("schemaType") != SCHEMA_TYPE:
        raise _Bad("not an invocation record (schemaType)")
    if get("schemaVersion") != SCHEMA_VERSION:
        raise _Bad("unsupported schemaVersion")
    request_id = get("requestId")
    if type(request_id) is not str or not request_id:
        raise _Bad("missing requestId")
    model_id = get("modelId")
    if type(model_id) is not str or not model_id:
        raise _Bad("missing modelId")
    operation = get("operation")
    if type(operation) is not str or not operation:
        raise _Bad("missing operation")

    metadata = get("requestMetadata")
    application = None
    if metadata is not None:
        if type(metadata) is not dict:
            raise _Bad("requestMetadata is not an object")
        application = metadata.get(application_key)
        if type(application) is not str or not application:
            application = None
        route = metadata.get(ROUTE_METADATA_KEY)
        if type(route) is not str or not route:
            route = None
    else:
        route = None
    # The caller is context, not a billing figure: an odd value is ignored rather than fatal.
    caller = get("identity")
    identity = caller.get("arn") if type(caller) is dict else None
    if type(identity) is not str or not identity:
        identity = None

    error_code = get("errorCode")
    if error_code is not None and type(error_code) is not str:
        error_code = _opt_str(doc, "errorCode")
    inp = get("input")
    if inp is None:
        inp = {}
    elif type(inp) is not dict:
        raise _Bad("input is not an object")
    out = get("output")
    if out is None:
        out = {}
    elif type(out) is not dict:
        raise _Bad("output is not an object")
    region = get("region")
    if type(region) is not str:
        region = _opt_str(doc, "region") or ""
    inference_region = get("inferenceRegion")
    if inference_region is not None and type(inference_region) is not str:
        inference_region = _opt_str(doc, "inferenceRegion")
    counts = inp.get
    input_tokens = counts("inputTokenCount", 0)
    if type(input_tokens) is not int or input_tokens < 0:
        input_tokens = _count(inp, "inputTokenCount")
    cache_read_tokens = counts("cacheReadInputTokenCount", 0)
    if type(cache_read_tokens) is not int or cache_read_tokens < 0:
        cache_read_tokens = _count(inp, "cacheReadInputTokenCount")
    cache_write_tokens = counts("cacheWriteInputTokenCount", 0)
    if type(cache_write_tokens) is not int or cache_write_tokens < 0:
        cache_write_tokens = _count(inp, "cacheWriteInputTokenCount")
    output_tokens = out.get("outputTokenCount", 0)
    if type(output_tokens) is not int or output_tokens < 0:
        output_tokens = _count(out, "outputTokenCount")
    tier = get("serviceTier")
    model = _MODEL_CACHE.get(model_id) or parse_model_id(model_id)

    body = out.get("outputBodyJson")
    if type(body) is dict:
        stop, latency, ttft, body_tier, one_hour, guardrail = _object_body(body)
    elif type(body) is list:
        stop, latency, ttft, body_tier, one_hour, guardrail = _chunks_body(body)
    else:
        stop, latency, ttft, body_tier, one_hour, guardrail = _NO_BODY
    service_tier = body_tier or (None if tier is None else _tier(tier))
    requested = False
    if service_tier is None:
        # No served tier logged: the tier the request asked for (Converse `serviceTier`), said so.
        request = inp.get("inputBodyJson")
        if type(request) is dict:
            asked = request.get("serviceTier")
            if asked is not None:
                service_tier = _tier(asked)
                requested = service_tier is not None
    # The body's 1-hour figure refines the log's cache-write count; it can never exceed it.
    if one_hour > cache_write_tokens:  # noqa: PLR1730 - min() is a call per record; this is rare
        one_hour = cache_write_tokens
    if stop in GUARDRAIL_STOP_REASONS:
        guardrail = True
    # The field order of InvocationRecord (RecordRow).
    return (
        request_id,
        timestamp_ms,
        operation,
        model,
        region,
        inference_region,
        application,
        input_tokens,
        cache_read_tokens,
        cache_write_tokens,
        one_hour,
        output_tokens,
        latency,
        ttft,
        stop,
        service_tier,
        error_code,
        error_class(error_code) if error_code else None,
        guardrail,
        requested,
        route,
        identity,
    )


NO_TIMESTAMP_OR_MESSAGE: Final = "log event without timestamp or message"


@dataclass(slots=True)
class ReadEvents:
    """What `read_events` made of a delivery's log events."""

    rows: list[RecordRow]  # the invocation records, as rows
    malformed: list[tuple[int, str]]  # (timestamp ms, reason) of each line that is not a record
    skipped: int  # expected lines that are not records (the logging set-up line)
    events: int  # log events read


def read_events(log_events: Iterable[Mapping[str, Any]], application_key: str, now_ms: int) -> ReadEvents:
    """Parse decoded log events (`{"timestamp": ms, "message": str}`) into rows, in one loop: the
    metering hot path, where a call per line is a measurable part of the handler (parse_line
    is this loop over one event). A log event without a usable timestamp or
    message is malformed at `now_ms`. Never raises."""
    rows: list[RecordRow] = []
    malformed: list[tuple[int, str]] = []
    keep = rows.append
    loads = orjson.loads
    build = _build
    events = skipped = 0
    for log_event in log_events:
        events += 1
        try:
            timestamp = log_event["timestamp"]
            if type(timestamp) is not int:
                timestamp = int(timestamp)
            message = log_event["message"]
        except (KeyError, TypeError, ValueError):
            malformed.append((now_ms, NO_TIMESTAMP_OR_MESSAGE))
            continue
        try:
            try:
                doc = loads(message)
            except orjson.JSONDecodeError as err:
                _undecodable(message, err)  # raises with the reason
            keep(build(doc, timestamp, application_key))
        except _Skip:
            skipped += 1
        except _Bad as bad:
            malformed.append((timestamp, bad.reason))
        except Exception as err:  # never let one line break a batch
            malformed.append((timestamp, f"unparseable ({type(err).__name__})"))
    return ReadEvents(rows, malformed, skipped, events)


def parse_line(
    message: str | bytes, *, timestamp_ms: int, application_key: str = "application"
) -> InvocationRecord | Malformed | Skipped:
    """Parse one log event message. Never raises: bad input comes back as Malformed.

    Reasons are short, fixed phrases (never line content), so they are safe to log and to use
    as a metric or log field. Bodies in S3 (`*BodyS3Path`) are never fetched: token counts are
    inline in every record, and latency/stop reason are simply unknown for such records.
    """
    read = read_events(({"timestamp": timestamp_ms, "message": message},), application_key, timestamp_ms)
    if read.rows:
        return InvocationRecord(*read.rows[0])
    if read.malformed:
        return Malformed(read.malformed[0][1])
    return Skipped(SETUP_LINE_REASON)
