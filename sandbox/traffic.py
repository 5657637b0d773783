"""Deterministic, realistic Bedrock model-invocation log traffic (FACTS §1, §1.1, §1.2, §2).

`generate(TrafficProfile(...))` returns CloudWatch Logs events (`timestamp`, `message`) whose
messages are invocation records with the real body shapes of all four operations: Converse and
ConverseStream (`metrics.latencyMs`, `usage`, `stopReason`), Anthropic-native InvokeModel
(`usage.cache_creation` with the 5 m / 1 h split) and InvokeModelWithResponseStream (a list of
stream chunks ending in `amazon-bedrock-invocationMetrics`), Nova-, Llama- and Mistral-native
bodies, cross-region and global system profiles, an application inference profile, cache
tokens, truncations, guardrail interventions, S3-offloaded bodies and errors of several classes.
Every prompt and response carries `profile.marker`, so a test can prove no body text leaks.

The knobs of `TrafficProfile` (model mix, per-model error rates and latency factors, token
ranges, time range, body sizes) are what the benchmark, the demo data and the drill's scenarios
set. The same profile always yields the same events.
"""

from __future__ import annotations

import base64
import gzip
import math
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

import orjson

ACCOUNT_ID: Final = "111122223333"
REGION: Final = "us-east-1"
LOG_GROUP: Final = "/aws/bedrock/modelinvocations"
LOG_STREAM: Final = "aws/bedrock/modelinvocations"
SETUP_LINE: Final = "Permissions are correctly set for Amazon Bedrock logs."
DEFAULT_MARKER: Final = "ZEBRA-MARKER-7731"
# 2026-11-26T12:00:00Z: a fixed start keeps generated data byte-for-byte reproducible.
DEFAULT_START_MS: Final = 1_795_694_400_000

SONNET_45: Final = "anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU_45: Final = "anthropic.claude-haiku-4-5-20251001-v1:0"
APPLICATION_PROFILE_ARN: Final = (
    f"arn:aws:bedrock:{REGION}:{ACCOUNT_ID}:application-inference-profile/k2x7m9q4w1ab"
)
# What the application profile wraps: given to the stack as InferenceProfileMap in the demo
# (moto has no bedrock:GetInferenceProfile to ask).
PROFILE_MAP: Final[Mapping[str, str]] = {APPLICATION_PROFILE_ARN: f"us.{SONNET_45}"}

ANTHROPIC_OPERATIONS: Final = {
    "Converse": 0.35,
    "ConverseStream": 0.2,
    "InvokeModel": 0.25,
    "InvokeModelWithResponseStream": 0.2,
}
NOVA_OPERATIONS: Final = {
    "Converse": 0.5,
    "ConverseStream": 0.2,
    "InvokeModel": 0.2,
    "InvokeModelWithResponseStream": 0.1,
}
OPEN_WEIGHTS_OPERATIONS: Final = {"Converse": 0.6, "InvokeModel": 0.4}
CONVERSE_ONLY: Final = {"Converse": 0.7, "ConverseStream": 0.3}

US_REGIONS: Final = ("us-east-1", "us-east-2", "us-west-2")
GLOBAL_REGIONS: Final = ("us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1", "eu-central-1")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model as callers reach it: the id they pass, the body family and how fast it is."""

    model_id: str
    family: str  # anthropic | nova | llama | mistral: decides the native body shapes
    operations: Mapping[str, float]
    weight: float = 1.0
    base_latency_ms: float = 400.0
    ms_per_output_token: float = 12.0
    ttft_ms: float = 350.0
    inference_regions: tuple[str, ...] = (REGION,)
    supports_cache: bool = False
    wire_name: str = ""  # the `model` field of Anthropic-native responses


@dataclass(frozen=True, slots=True)
class AppSpec:
    """A calling application (None: calls that carry no application tag) and the models it calls."""

    name: str | None
    weight: float
    models: tuple[str, ...]


DEFAULT_MODELS: Final[tuple[ModelSpec, ...]] = (
    ModelSpec(
        f"us.{SONNET_45}",
        "anthropic",
        ANTHROPIC_OPERATIONS,
        3.0,
        600,
        18,
        700,
        US_REGIONS,
        True,
        "claude-sonnet-4-5-20250929",
    ),
    ModelSpec(
        f"global.{HAIKU_45}",
        "anthropic",
        ANTHROPIC_OPERATIONS,
        3.0,
        300,
        7,
        300,
        GLOBAL_REGIONS,
        True,
        "claude-haiku-4-5-20251001",
    ),
    ModelSpec(
        "anthropic.claude-3-haiku-20240307-v1:0",
        "anthropic",
        ANTHROPIC_OPERATIONS,
        1.5,
        250,
        6,
        250,
        wire_name="claude-3-haiku-20240307",
    ),
    ModelSpec(APPLICATION_PROFILE_ARN, "anthropic", CONVERSE_ONLY, 1.0, 600, 18, 700, US_REGIONS, True),
    ModelSpec("amazon.nova-lite-v1:0", "nova", NOVA_OPERATIONS, 2.0, 200, 5, 200, supports_cache=True),
    ModelSpec("us.amazon.nova-pro-v1:0", "nova", NOVA_OPERATIONS, 1.0, 350, 9, 350, US_REGIONS, True),
    ModelSpec(
        "us.meta.llama3-3-70b-instruct-v1:0", "llama", OPEN_WEIGHTS_OPERATIONS, 1.0, 300, 10, 300, US_REGIONS
    ),
    ModelSpec("mistral.mistral-large-2407-v1:0", "mistral", OPEN_WEIGHTS_OPERATIONS, 0.7, 450, 14, 450),
)

DEFAULT_APPLICATIONS: Final[tuple[AppSpec, ...]] = (
    AppSpec("support-bot", 4.0, (f"us.{SONNET_45}", f"global.{HAIKU_45}", APPLICATION_PROFILE_ARN)),
    AppSpec(
        "summariser",
        3.0,
        (f"global.{HAIKU_45}", "amazon.nova-lite-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"),
    ),
    AppSpec("search-rerank", 2.0, ("amazon.nova-lite-v1:0", "us.amazon.nova-pro-v1:0")),
    AppSpec("code-review", 1.5, (f"us.{SONNET_45}", "mistral.mistral-large-2407-v1:0")),
    AppSpec("batch-etl", 1.0, ("us.meta.llama3-3-70b-instruct-v1:0", "amazon.nova-lite-v1:0")),
    AppSpec(None, 0.8, ("anthropic.claude-3-haiku-20240307-v1:0", "us.meta.llama3-3-70b-instruct-v1:0")),
)

DEFAULT_ERROR_MIX: Final[Mapping[str, float]] = {
    "ThrottlingException": 0.40,
    "ServiceQuotaExceededException": 0.05,
    "ModelTimeoutException": 0.10,
    "InternalServerException": 0.08,
    "ServiceUnavailableException": 0.05,
    "ValidationException": 0.15,
    "AccessDeniedException": 0.05,
    "ResourceNotFoundException": 0.04,
    "ModelErrorException": 0.08,
}


@dataclass(frozen=True, slots=True)
class TrafficProfile:
    """Everything that shapes generated traffic; scenarios override a few fields with `replace`."""

    seed: int = 7
    requests: int = 1000
    start_ms: int = DEFAULT_START_MS
    duration_s: float = 600.0
    models: tuple[ModelSpec, ...] = DEFAULT_MODELS
    applications: tuple[AppSpec, ...] = DEFAULT_APPLICATIONS
    model_weights: Mapping[str, float] = field(default_factory=dict)  # override ModelSpec.weight
    error_rate: float = 0.03
    model_error_rates: Mapping[str, float] = field(default_factory=dict)
    error_mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_ERROR_MIX))
    latency_factor: float = 1.0
    model_latency_factors: Mapping[str, float] = field(default_factory=dict)
    input_tokens: tuple[int, int] = (150, 6000)  # uncached input, log-uniform
    output_tokens: tuple[int, int] = (20, 1500)  # log-uniform, capped at max_tokens
    max_tokens: int = 2048
    truncation_rate: float = 0.03
    guardrail_rate: float = 0.005
    cache_rate: float = 0.35  # share of requests to cache-capable models that use a cached prefix
    cache_write_share: float = 0.2  # of those, how many write the cache instead of reading it
    cache_1h_share: float = 0.3  # of Anthropic-native cache writes, how many are 1-hour writes
    body_kb: tuple[float, float] = (1.0, 8.0)
    s3_offload_rate: float = 0.01
    duplicate_rate: float = 0.0  # at-least-once delivery: the same record twice
    include_setup_line: bool = False
    marker: str = DEFAULT_MARKER
    account_id: str = ACCOUNT_ID
    region: str = REGION

    def with_(self, **changes: Any) -> TrafficProfile:
        """A copy with `changes` applied."""
        return replace(self, **changes)


_VOCABULARY = (
    "the quarterly report shows revenue growth across regions while support tickets fell after "
    "the release customers asked about pricing tiers latency dashboards invoices refunds "
    "onboarding summarise classify translate extract entities compare options explain the trade "
    "offs list the risks draft a reply for the account manager include citations keep it short "
    "and friendly policy compliance security review incident timeline root cause mitigation "
    "follow up actions product catalogue search ranking relevance embeddings retrieval context "
    "window tokens budget"
)
_WORDS: Final = tuple(_VOCABULARY.split())
_SENTENCE_POOL_RNG = random.Random(20261126)
# A fixed pool of sentences: bodies read like text and compress like real logs do.
_SENTENCES: Final[tuple[str, ...]] = tuple(
    " ".join(_SENTENCE_POOL_RNG.choice(_WORDS) for _ in range(_SENTENCE_POOL_RNG.randint(8, 22))).capitalize()
    + "."
    for _ in range(120)
)


def _text(rng: random.Random, chars: int, marker: str) -> str:
    parts = [marker]
    size = len(marker)
    while size < chars:
        sentence = rng.choice(_SENTENCES)
        parts.append(sentence)
        size += len(sentence) + 1
    rng.shuffle(parts)
    return " ".join(parts)


def _pieces(text: str, count: int) -> list[str]:
    """`text` in about `count` stream deltas, cut at spaces so words (and the marker) stay whole."""
    step = max(1, len(text) // count)
    pieces, start = [], 0
    while start < len(text):
        cut = text.find(" ", start + step)
        end = len(text) if cut == -1 else cut + 1
        pieces.append(text[start:end])
        start = end
    return pieces


def _pick(rng: random.Random, weights: Mapping[str, float]) -> str:
    names = list(weights)
    return rng.choices(names, weights=[weights[n] for n in names])[0]


def _log_uniform(rng: random.Random, low: int, high: int) -> int:
    return round(math.exp(rng.uniform(math.log(max(low, 1)), math.log(max(high, low, 1)))))


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class _Call:
    """One generated call's figures, before they are written in a body shape."""

    op: str
    input_tokens: int
    output_tokens: int
    cache_read: int
    cache_write: int
    cache_write_1h: int
    latency_ms: int
    ttft_ms: int
    stop: str  # Converse vocabulary: end_turn | max_tokens | guardrail_intervened
    prompt: str
    response: str


_ANTHROPIC_STOP = {"end_turn": "end_turn", "max_tokens": "max_tokens", "guardrail_intervened": "end_turn"}
_LLAMA_STOP = {"end_turn": "stop", "max_tokens": "length", "guardrail_intervened": "stop"}


def _converse_bodies(c: _Call, max_tokens: int) -> tuple[dict[str, Any], dict[str, Any]]:
    system: list[dict[str, Any]] = [{"text": "You are a careful assistant for an internal tool."}]
    if c.cache_read or c.cache_write:
        system.append({"cachePoint": {"type": "default"}})
    request = {
        "messages": [{"role": "user", "content": [{"text": c.prompt}]}],
        "system": system,
        "inferenceConfig": {"maxTokens": max_tokens, "temperature": 0.3},
    }
    usage: dict[str, int] = {
        "inputTokens": c.input_tokens,
        "outputTokens": c.output_tokens,
        "totalTokens": c.input_tokens + c.output_tokens + c.cache_read + c.cache_write,
    }
    if c.cache_read or c.cache_write:
        usage["cacheReadInputTokens"] = c.cache_read
        usage["cacheWriteInputTokens"] = c.cache_write
    response = {
        "output": {"message": {"role": "assistant", "content": [{"text": c.response}]}},
        "stopReason": c.stop,
        "metrics": {"latencyMs": c.latency_ms},
        "usage": usage,
    }
    return request, response


def _anthropic_usage(c: _Call) -> dict[str, Any]:
    return {
        "input_tokens": c.input_tokens,
        "cache_creation_input_tokens": c.cache_write,
        "cache_read_input_tokens": c.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": c.cache_write - c.cache_write_1h,
            "ephemeral_1h_input_tokens": c.cache_write_1h,
        },
        "output_tokens": c.output_tokens,
    }


def _anthropic_bodies(
    c: _Call, spec: ModelSpec, max_tokens: int, rng: random.Random
) -> tuple[dict[str, Any], Any]:
    system: Any = "You are a careful assistant for an internal tool."
    if c.cache_read or c.cache_write:
        ttl = {"ttl": "1h"} if c.cache_write_1h else {}
        system = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral", **ttl}}]
    request = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": max_tokens,
        "system": system,
        "messages": [{"role": "user", "content": [{"type": "text", "text": c.prompt}]}],
    }
    message_id = f"msg_bdrk_01{uuid.UUID(int=rng.getrandbits(128)).hex[:22]}"
    stop = _ANTHROPIC_STOP[c.stop]
    if c.op == "InvokeModel":
        return request, {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": spec.wire_name or "claude",
            "content": [{"type": "text", "text": c.response}],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": _anthropic_usage(c),
        }
    start_usage = {**_anthropic_usage(c), "output_tokens": 1}
    chunks: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": spec.wire_name or "claude",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": start_usage,
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    for piece in _pieces(c.response, rng.randint(3, 8)):
        chunks.append(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
        )
    chunks += [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": c.output_tokens},
        },
        {
            "type": "message_stop",
            "amazon-bedrock-invocationMetrics": {
                "inputTokenCount": c.input_tokens,
                "outputTokenCount": c.output_tokens,
                "invocationLatency": c.latency_ms,
                "firstByteLatency": c.ttft_ms,
                "cacheReadInputTokenCount": c.cache_read,
                "cacheWriteInputTokenCount": c.cache_write,
            },
        },
    ]
    return request, chunks


def _nova_bodies(c: _Call, max_tokens: int, rng: random.Random) -> tuple[dict[str, Any], Any]:
    request = {
        "schemaVersion": "messages-v1",
        "messages": [{"role": "user", "content": [{"text": c.prompt}]}],
        "inferenceConfig": {"maxTokens": max_tokens},
    }
    usage = {
        "inputTokens": c.input_tokens,
        "outputTokens": c.output_tokens,
        "totalTokens": c.input_tokens + c.output_tokens + c.cache_read + c.cache_write,
        "cacheReadInputTokenCount": c.cache_read,
        "cacheWriteInputTokenCount": c.cache_write,
    }
    if c.op == "InvokeModel":
        return request, {
            "output": {"message": {"content": [{"text": c.response}], "role": "assistant"}},
            "stopReason": c.stop,
            "usage": usage,
        }
    return request, [
        {"messageStart": {"role": "assistant"}},
        *(
            {"contentBlockDelta": {"delta": {"text": p}, "contentBlockIndex": 0}}
            for p in _pieces(c.response, 2)
        ),
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": c.stop}},
        {
            "metadata": {"usage": usage, "metrics": {}, "trace": {}},
            "amazon-bedrock-invocationMetrics": {
                "inputTokenCount": c.input_tokens,
                "outputTokenCount": c.output_tokens,
                "invocationLatency": c.latency_ms,
                "firstByteLatency": c.ttft_ms,
            },
        },
    ]


def _open_weights_bodies(c: _Call, family: str, max_tokens: int) -> tuple[dict[str, Any], dict[str, Any]]:
    stop = _LLAMA_STOP[c.stop]
    if family == "llama":
        prompt = f"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n{c.prompt}<|eot_id|>"
        return {"prompt": prompt, "max_gen_len": max_tokens, "temperature": 0.3}, {
            "generation": c.response,
            "prompt_token_count": c.input_tokens,
            "generation_token_count": c.output_tokens,
            "stop_reason": stop,
        }
    return {"prompt": f"<s>[INST] {c.prompt} [/INST]", "max_tokens": max_tokens}, {
        "outputs": [{"text": c.response, "stop_reason": stop}]
    }


class _Generator:
    def __init__(self, profile: TrafficProfile) -> None:
        self.p = profile
        self.rng = random.Random(profile.seed)
        self.models = {m.model_id: m for m in profile.models}

    def _model_for(self, app: AppSpec) -> ModelSpec:
        choices = [m for m in app.models if m in self.models] or list(self.models)
        weights = {m: self.p.model_weights.get(m, self.models[m].weight) for m in choices}
        return self.models[_pick(self.rng, weights)]

    def _call(self, spec: ModelSpec, op: str) -> _Call:
        rng, p = self.rng, self.p
        input_tokens = _log_uniform(rng, *p.input_tokens)
        stop = "end_turn"
        roll = rng.random()
        if roll < p.truncation_rate:
            output_tokens, stop = p.max_tokens, "max_tokens"
        elif roll < p.truncation_rate + p.guardrail_rate and op.startswith("Converse"):
            output_tokens, stop = rng.randint(10, 40), "guardrail_intervened"
        else:
            output_tokens = min(_log_uniform(rng, *p.output_tokens), p.max_tokens - 1)
        cache_read = cache_write = cache_write_1h = 0
        if spec.supports_cache and rng.random() < p.cache_rate:
            cached = rng.randint(1024, 12_000)
            if rng.random() < p.cache_write_share:
                cache_write = cached
                if (
                    spec.family == "anthropic"
                    and op.startswith("InvokeModel")
                    and rng.random() < p.cache_1h_share
                ):
                    cache_write_1h = cached
            else:
                cache_read = cached
        factor = p.latency_factor * p.model_latency_factors.get(spec.model_id, 1.0)
        noise = math.exp(rng.gauss(0, 0.25))
        latency = (spec.base_latency_ms + spec.ms_per_output_token * output_tokens) * noise * factor
        ttft = min(spec.ttft_ms * math.exp(rng.gauss(0, 0.2)) * factor, latency * 0.9)
        total_chars = int(rng.uniform(*p.body_kb) * 1024)
        prompt_chars = int(total_chars * rng.uniform(0.45, 0.75))
        return _Call(
            op,
            input_tokens,
            output_tokens,
            cache_read,
            cache_write,
            cache_write_1h,
            max(1, round(latency)),
            max(1, round(ttft)),
            stop,
            _text(rng, prompt_chars, p.marker),
            _text(rng, max(64, total_chars - prompt_chars - 400), p.marker),
        )

    def record(self, arrival_ms: int) -> tuple[int, dict[str, Any]]:
        rng, p = self.rng, self.p
        app = rng.choices(p.applications, weights=[a.weight for a in p.applications])[0]
        spec = self._model_for(app)
        op = _pick(rng, spec.operations)
        record: dict[str, Any] = {
            "schemaType": "ModelInvocationLog",
            "schemaVersion": "1.0",
            "timestamp": _iso(arrival_ms),
            "accountId": p.account_id,
            "region": p.region,
            "requestId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "operation": op,
            "modelId": spec.model_id,
        }
        error_rate = p.model_error_rates.get(spec.model_id, p.error_rate)
        if rng.random() < error_rate:
            record["errorCode"] = _pick(rng, p.error_mix)
            record["input"] = {"inputContentType": "application/json"}
            done_ms = arrival_ms + rng.randint(20, 400)
        else:
            call = self._call(spec, op)
            if spec.family == "anthropic" and op.startswith("InvokeModel"):
                request, response = _anthropic_bodies(call, spec, p.max_tokens, rng)
            elif spec.family == "nova" and op.startswith("InvokeModel"):
                request, response = _nova_bodies(call, p.max_tokens, rng)
            elif op.startswith("InvokeModel"):
                request, response = _open_weights_bodies(call, spec.family, p.max_tokens)
            else:
                request, response = _converse_bodies(call, p.max_tokens)
            offloaded = rng.random() < p.s3_offload_rate
            prefix = f"s3://bedrock-logs-{p.account_id}/AWSLogs/{p.account_id}/BedrockModelInvocationLogs"
            record["input"] = {
                "inputContentType": "application/json",
                "inputTokenCount": call.input_tokens,
                "cacheReadInputTokenCount": call.cache_read,
                "cacheWriteInputTokenCount": call.cache_write,
            }
            record["output"] = {
                "outputContentType": "application/json",
                "outputTokenCount": call.output_tokens,
            }
            if offloaded:
                record["input"]["inputBodyS3Path"] = f"{prefix}/{record['requestId']}/input.json"
                record["output"]["outputBodyS3Path"] = f"{prefix}/{record['requestId']}/output.json"
            else:
                record["input"]["inputBodyJson"] = request
                record["output"]["outputBodyJson"] = response
            done_ms = arrival_ms + call.latency_ms
        record["inferenceRegion"] = rng.choice(spec.inference_regions)
        if app.name is not None:
            record["requestMetadata"] = {"application": app.name, "team": "platform"}
        record["identity"] = {
            "arn": f"arn:aws:sts::{p.account_id}:assumed-role/{app.name or 'dev'}-role/session"
        }
        return done_ms, record


def generate_records(profile: TrafficProfile) -> list[tuple[int, dict[str, Any]]]:
    """(log event timestamp ms, invocation record) pairs in log order (by completion time)."""
    gen = _Generator(profile)
    span_ms = int(profile.duration_s * 1000)
    arrivals = sorted(profile.start_ms + int(gen.rng.random() * span_ms) for _ in range(profile.requests))
    out = [gen.record(arrival) for arrival in arrivals]
    out.sort(key=lambda pair: pair[0])
    return out


def generate(profile: TrafficProfile) -> list[dict[str, Any]]:
    """CloudWatch Logs events (`id`, `timestamp`, `message`) as Bedrock writes them: one record per
    event, the setup line first when asked, duplicates right after their original when asked."""
    rng = random.Random(profile.seed ^ 0x5EED)
    events: list[dict[str, Any]] = []
    pairs = generate_records(profile)
    if profile.include_setup_line:
        first = pairs[0][0] - 1000 if pairs else profile.start_ms
        events.append({"timestamp": first, "message": SETUP_LINE})
    for timestamp, record in pairs:
        message = orjson.dumps(record).decode()
        events.append({"timestamp": timestamp, "message": message})
        if rng.random() < profile.duplicate_rate:
            events.append({"timestamp": timestamp, "message": message})
    for event in events:
        event["id"] = str(rng.getrandbits(180)).zfill(56)[:56]
    return events


def delivery_batches(
    events: Sequence[dict[str, Any]], *, seed: int = 0, sizes: tuple[int, int] = (50, 500)
) -> list[list[dict[str, Any]]]:
    """Consecutive runs of events, sized like CloudWatch Logs subscription deliveries."""
    rng = random.Random(seed)
    batches: list[list[dict[str, Any]]] = []
    index = 0
    while index < len(events):
        size = rng.randint(*sizes)
        batches.append(list(events[index : index + size]))
        index += size
    return batches


def subscription_payload(
    events: Iterable[Mapping[str, Any]],
    *,
    log_group: str = LOG_GROUP,
    log_stream: str = LOG_STREAM,
    owner: str = ACCOUNT_ID,
    message_type: str = "DATA_MESSAGE",
) -> dict[str, Any]:
    """The decoded form of a subscription delivery."""
    return {
        "messageType": message_type,
        "owner": owner,
        "logGroup": log_group,
        "logStream": log_stream,
        "subscriptionFilters": ["bedrock-watch-invocation-metrics"],
        "logEvents": [
            {"id": e.get("id", "0" * 56), "timestamp": e["timestamp"], "message": e["message"]}
            for e in events
        ],
    }


def encode_envelope(payload: Mapping[str, Any]) -> dict[str, Any]:
    """`{"awslogs": {"data": base64(gzip(json))}}`: what Lambda receives."""
    data = base64.b64encode(gzip.compress(orjson.dumps(payload), compresslevel=6)).decode()
    return {"awslogs": {"data": data}}


def subscription_event(events: Iterable[Mapping[str, Any]], **kwargs: Any) -> dict[str, Any]:
    """A DATA_MESSAGE subscription delivery of `events`."""
    return encode_envelope(subscription_payload(events, **kwargs))


def control_message_event() -> dict[str, Any]:
    """The CONTROL_MESSAGE CloudWatch Logs sends to check a destination is reachable."""
    payload = subscription_payload([], log_group="", log_stream="", message_type="CONTROL_MESSAGE")
    payload["logEvents"] = [
        {
            "id": "",
            "timestamp": DEFAULT_START_MS,
            "message": "CWL CONTROL MESSAGE: Checking health of destination Lambda function.",
        }
    ]
    return encode_envelope(payload)
