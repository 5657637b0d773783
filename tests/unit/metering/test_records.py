"""parse_line: one invocation-log line -> a typed record, or Malformed/Skipped with a reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bedrock_watch.records import (
    ErrorClass,
    InvocationRecord,
    Malformed,
    ModelKind,
    ModelRef,
    Scope,
    Skipped,
    error_class,
    parse_line,
    parse_model_id,
)
from sandbox.events import load_event
from scripts.make_events import message_of, record_files

MARKER = "PROMPT-MARKER-7f3a"
ACCT = "123456789012"


def parsed(name: str, **kwargs: Any) -> InvocationRecord:
    """Given the sample record events/metering/record-<name>.json, when it is parsed."""
    result = parse_line(message_of(load_event(f"metering/record-{name}")), timestamp_ms=1_000, **kwargs)
    assert isinstance(result, InvocationRecord), result
    return result


def valid_record(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = load_event("metering/record-converse")
    record.update(changes)
    return record


# ---- the four operations -------------------------------------------------------------------


def test_converse_record_carries_tokens_latency_stop_reason_and_application() -> None:
    record = parsed("converse")
    assert record.request_id == "6f1c2d3e-0000-4000-8000-000000000001"
    assert record.operation == "Converse"
    assert record.timestamp_ms == 1_000
    assert record.model == ModelRef(
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        Scope.IN_REGION,
        ModelKind.FOUNDATION,
    )
    assert (record.region, record.inference_region) == ("us-east-1", "us-east-1")
    assert record.application == "support-bot"
    assert (record.input_tokens, record.cache_read_tokens, record.cache_write_tokens) == (412, 0, 0)
    assert record.output_tokens == 96
    assert record.total_tokens == 508
    assert record.latency_ms == 1873.0
    assert record.ttft_ms is None  # Converse does not log time to first token
    assert record.stop_reason == "end_turn"
    assert not record.truncated
    assert record.error_code is None
    assert record.error_class is None


def test_converse_stream_record_reports_truncation_on_a_geo_profile() -> None:
    record = parsed("converse-stream")
    assert record.operation == "ConverseStream"
    assert record.model.base_id == "amazon.nova-pro-v1:0"
    assert (record.model.scope, record.model.geo, record.model.kind) == (
        Scope.GEO,
        "us",
        ModelKind.SYSTEM_PROFILE,
    )
    assert record.model.original == "us.amazon.nova-pro-v1:0"
    assert (record.region, record.inference_region) == ("us-east-2", "us-west-2")
    assert (record.input_tokens, record.output_tokens) == (5210, 1024)
    assert record.latency_ms == 9120.0
    assert record.truncated


def test_invoke_model_llama_length_stop_reason_is_normalised_to_max_tokens() -> None:
    record = parsed("invoke-model")
    assert record.operation == "InvokeModel"
    assert record.model.base_id == "meta.llama3-3-70b-instruct-v1:0"
    assert record.stop_reason == "max_tokens"
    assert record.latency_ms is None  # InvokeModel latency is not in the log (FACTS §1.1)
    assert record.application is None  # no requestMetadata


def test_stream_record_takes_latency_and_ttft_from_invocation_metrics_and_stop_from_message_delta() -> None:
    record = parsed("invoke-model-stream")
    assert record.operation == "InvokeModelWithResponseStream"
    assert record.model.base_id == "anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert (record.latency_ms, record.ttft_ms) == (4210.0, 612.0)
    assert record.stop_reason == "end_turn"
    assert (record.input_tokens, record.output_tokens) == (1840, 322)


@pytest.mark.parametrize(
    ("body", "stop"),
    [
        ({"results": [{"tokenCount": 9, "outputText": MARKER, "completionReason": "LENGTH"}]}, "max_tokens"),
        ({"results": [{"tokenCount": 9, "outputText": MARKER, "completionReason": "FINISH"}]}, "end_turn"),
        ({"outputs": [{"text": MARKER, "stop_reason": "length"}]}, "max_tokens"),
        ({"text": MARKER, "finish_reason": "MAX_TOKENS"}, "max_tokens"),
        ({"choices": [{"message": {"content": MARKER}, "finish_reason": "length"}]}, "max_tokens"),
        ({"output": {"message": {"content": [{"text": MARKER}]}}, "stopReason": "end_turn"}, "end_turn"),
        ({"completion": MARKER, "stop_reason": "stop_sequence"}, "stop_sequence"),
        ({"outputText": MARKER, "completionReason": "CONTENT_FILTERED"}, "content_filtered"),
    ],
)
def test_invoke_model_stop_reasons_of_every_provider_shape(body: dict[str, Any], stop: str) -> None:
    record = load_event("metering/record-invoke-model")
    record["output"]["outputBodyJson"] = body
    result = parse_line(json.dumps(record), timestamp_ms=0)
    assert isinstance(result, InvocationRecord)
    assert result.stop_reason == stop
    assert result.guardrail_intervened == (stop == "content_filtered")


@pytest.mark.parametrize(
    ("last_chunks", "stop"),
    [
        ([{"generation": MARKER, "stop_reason": "length"}], "max_tokens"),  # Llama
        ([{"outputText": MARKER, "completionReason": "FINISH"}], "end_turn"),  # Titan
        ([{"messageStop": {"stopReason": "max_tokens"}}, {"metadata": {"usage": {}}}], "max_tokens"),  # Nova
        ([{"outputs": [{"text": MARKER, "stop_reason": "length"}]}], "max_tokens"),  # Mistral
    ],
)
def test_stream_stop_reasons_of_every_provider_shape(last_chunks: list[dict[str, Any]], stop: str) -> None:
    record = load_event("metering/record-invoke-model-stream")
    metrics = {"invocationLatency": 900, "firstByteLatency": 100}
    record["output"]["outputBodyJson"] = [
        {"generation": MARKER},
        *last_chunks[:-1],
        {**last_chunks[-1], "amazon-bedrock-invocationMetrics": metrics},
    ]
    result = parse_line(json.dumps(record), timestamp_ms=0)
    assert isinstance(result, InvocationRecord)
    assert (result.stop_reason, result.latency_ms, result.ttft_ms) == (stop, 900.0, 100.0)


def test_free_text_in_a_stop_reason_is_not_carried_into_the_record() -> None:
    record = load_event("metering/record-converse")
    record["output"]["outputBodyJson"]["stopReason"] = f"{MARKER} " * 10
    record["output"]["outputBodyJson"]["serviceTier"] = {"type": f"{MARKER} " * 10}
    result = parse_line(json.dumps(record), timestamp_ms=0)
    assert isinstance(result, InvocationRecord)
    assert (result.stop_reason, result.service_tier) == ("other", None)


# ---- cache tokens ---------------------------------------------------------------------------


def test_cache_read_and_write_counts_come_from_the_log_fields() -> None:
    record = parsed("cached-tokens")
    assert (record.input_tokens, record.cache_read_tokens, record.cache_write_tokens) == (58, 12400, 2100)
    assert record.cache_write_1h_tokens == 0  # Converse bodies carry no TTL split
    assert record.total_tokens == 58 + 12400 + 2100 + 140


def test_anthropic_native_body_splits_one_hour_cache_writes() -> None:
    record = parsed("anthropic-1h-cache")
    assert record.cache_write_tokens == 50_000
    assert record.cache_write_1h_tokens == 45_000
    assert record.model.scope is Scope.GLOBAL


def test_one_hour_split_is_read_from_the_stream_message_start_chunk() -> None:
    record = load_event("metering/record-invoke-model-stream")
    record["input"]["cacheWriteInputTokenCount"] = 3000
    usage = record["output"]["outputBodyJson"][0]["message"]["usage"]
    usage["cache_creation_input_tokens"] = 3000
    usage["cache_creation"] = {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000}
    result = parse_line(json.dumps(record), timestamp_ms=0)
    assert isinstance(result, InvocationRecord)
    assert (result.cache_write_tokens, result.cache_write_1h_tokens) == (3000, 2000)


def test_one_hour_split_never_exceeds_the_logged_cache_writes() -> None:
    record = load_event("metering/record-anthropic-1h-cache")
    record["input"]["cacheWriteInputTokenCount"] = 40_000
    result = parse_line(json.dumps(record), timestamp_ms=0)
    assert isinstance(result, InvocationRecord)
    assert result.cache_write_1h_tokens == 40_000


# ---- guardrails, tiers, errors --------------------------------------------------------------


def test_guardrail_intervention_is_flagged_from_the_stop_reason() -> None:
    record = parsed("guardrail-intervened")
    assert record.stop_reason == "guardrail_intervened"
    assert record.guardrail_intervened


def test_guardrail_action_header_in_an_invoke_model_body_is_flagged() -> None:
    record = load_event("metering/record-invoke-model")
    record["output"]["outputBodyJson"]["amazon-bedrock-guardrailAction"] = "INTERVENED"
    result = parse_line(json.dumps(record), timestamp_ms=0)
    assert isinstance(result, InvocationRecord)
    assert result.guardrail_intervened


def test_guardrail_action_in_a_stream_chunk_is_flagged() -> None:
    record = load_event("metering/record-invoke-model-stream")
    record["output"]["outputBodyJson"][-1]["amazon-bedrock-guardrailAction"] = "INTERVENED"
    result = parse_line(json.dumps(record), timestamp_ms=0)
    assert isinstance(result, InvocationRecord)
    assert result.guardrail_intervened


@pytest.mark.parametrize(("tier", "expected"), [({"type": "flex"}, "flex"), ("PRIORITY", "priority")])
def test_service_tier_is_read_from_the_converse_body(tier: object, expected: str) -> None:
    record = load_event("metering/record-converse")
    record["output"]["outputBodyJson"]["serviceTier"] = tier
    result = parse_line(json.dumps(record), timestamp_ms=0)
    assert isinstance(result, InvocationRecord)
    assert result.service_tier == expected


@pytest.mark.parametrize(
    ("name", "code", "cls"),
    [
        ("error-throttling", "ThrottlingException", ErrorClass.THROTTLE),
        ("error-validation", "ValidationException", ErrorClass.VALIDATION),
        ("error-model-timeout", "ModelTimeoutException", ErrorClass.TIMEOUT),
        ("error-internal-server", "InternalServerException", ErrorClass.SERVER),
        ("error-access-denied", "AccessDeniedException", ErrorClass.AUTH),
    ],
)
def test_error_records_are_classified(name: str, code: str, cls: ErrorClass) -> None:
    record = parsed(name)
    assert (record.error_code, record.error_class) == (code, cls)
    assert record.latency_ms is None


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("ThrottlingException", ErrorClass.THROTTLE),
        ("ServiceQuotaExceededException", ErrorClass.THROTTLE),
        ("ModelNotReadyException", ErrorClass.THROTTLE),
        ("ModelTimeoutException", ErrorClass.TIMEOUT),
        ("ValidationException", ErrorClass.VALIDATION),
        ("ResourceNotFoundException", ErrorClass.VALIDATION),
        ("AccessDeniedException", ErrorClass.AUTH),
        ("UnrecognizedClientException", ErrorClass.AUTH),
        ("ModelErrorException", ErrorClass.MODEL),
        ("ModelStreamErrorException", ErrorClass.MODEL),
        ("InternalServerException", ErrorClass.SERVER),
        ("ServiceUnavailableException", ErrorClass.SERVER),
        ("Throttling", ErrorClass.THROTTLE),
        ("SomethingNewException", ErrorClass.OTHER),
    ],
)
def test_error_codes_map_to_the_documented_classes(code: str, cls: ErrorClass) -> None:
    assert error_class(code) is cls


# ---- bodies absent ---------------------------------------------------------------------------


def test_s3_offloaded_bodies_keep_inline_tokens_and_are_never_fetched() -> None:
    record = parsed("s3-offloaded")
    assert (record.input_tokens, record.output_tokens) == (60_000, 900)
    assert record.latency_ms is None
    assert record.stop_reason is None


def test_metadata_only_record_still_counts_tokens() -> None:
    record = parsed("metadata-only")
    assert (record.input_tokens, record.output_tokens) == (180, 45)
    assert (record.latency_ms, record.stop_reason) == (None, None)


def test_application_key_is_configurable() -> None:
    assert parsed("converse", application_key="tenant").application == "acme"
    assert parsed("converse", application_key="team").application is None


def test_no_sample_record_keeps_prompt_or_response_text() -> None:
    for path in record_files():
        result = parse_line(message_of(json.loads(path.read_text())), timestamp_ms=0)
        assert MARKER not in repr(result), path.name


def test_bytes_are_accepted_like_text() -> None:
    message = message_of(load_event("metering/record-converse"))
    assert parse_line(message.encode(), timestamp_ms=5) == parse_line(message, timestamp_ms=5)


# ---- model ids -------------------------------------------------------------------------------

SONNET_45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.mark.parametrize(
    ("model_id", "base_id", "scope", "kind", "geo"),
    [
        (SONNET_45, SONNET_45, Scope.IN_REGION, ModelKind.FOUNDATION, None),
        (f"us.{SONNET_45}", SONNET_45, Scope.GEO, ModelKind.SYSTEM_PROFILE, "us"),
        (f"eu.{SONNET_45}", SONNET_45, Scope.GEO, ModelKind.SYSTEM_PROFILE, "eu"),
        (f"apac.{SONNET_45}", SONNET_45, Scope.GEO, ModelKind.SYSTEM_PROFILE, "apac"),
        (f"jp.{SONNET_45}", SONNET_45, Scope.GEO, ModelKind.SYSTEM_PROFILE, "jp"),
        (f"au.{SONNET_45}", SONNET_45, Scope.GEO, ModelKind.SYSTEM_PROFILE, "au"),
        (f"ca.{SONNET_45}", SONNET_45, Scope.GEO, ModelKind.SYSTEM_PROFILE, "ca"),
        (f"global.{SONNET_45}", SONNET_45, Scope.GLOBAL, ModelKind.SYSTEM_PROFILE, None),
        (
            f"arn:aws:bedrock:us-east-1::foundation-model/{SONNET_45}",
            SONNET_45,
            Scope.IN_REGION,
            ModelKind.FOUNDATION,
            None,
        ),
        (
            f"arn:aws:bedrock:eu-west-1:{ACCT}:inference-profile/eu.{SONNET_45}",
            SONNET_45,
            Scope.GEO,
            ModelKind.SYSTEM_PROFILE,
            "eu",
        ),
        (
            f"arn:aws:bedrock:us-east-1:{ACCT}:inference-profile/global.{SONNET_45}",
            SONNET_45,
            Scope.GLOBAL,
            ModelKind.SYSTEM_PROFILE,
            None,
        ),
        (
            f"arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/abc123",
            f"arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/abc123",
            Scope.IN_REGION,
            ModelKind.APPLICATION_PROFILE,
            None,
        ),
        (
            f"arn:aws:bedrock:us-east-1:{ACCT}:provisioned-model/xyz",
            f"arn:aws:bedrock:us-east-1:{ACCT}:provisioned-model/xyz",
            Scope.IN_REGION,
            ModelKind.PROVISIONED,
            None,
        ),
        (
            f"arn:aws:bedrock:us-east-1:{ACCT}:custom-model/amazon.nova-lite-v1:0:300k/abc",
            f"arn:aws:bedrock:us-east-1:{ACCT}:custom-model/amazon.nova-lite-v1:0:300k/abc",
            Scope.IN_REGION,
            ModelKind.PROVISIONED,
            None,
        ),
        (
            f"arn:aws:bedrock:us-east-1:{ACCT}:imported-model/abc",
            f"arn:aws:bedrock:us-east-1:{ACCT}:imported-model/abc",
            Scope.IN_REGION,
            ModelKind.PROVISIONED,
            None,
        ),
        ("arn:aws:bedrock:us-east-1", "arn:aws:bedrock:us-east-1", Scope.IN_REGION, ModelKind.UNKNOWN, None),
    ],
)
def test_model_ids_are_normalised(
    model_id: str, base_id: str, scope: Scope, kind: ModelKind, geo: str | None
) -> None:
    assert parse_model_id(model_id) == ModelRef(model_id, base_id, scope, kind, geo)


def test_application_profile_record_keeps_the_arn_until_resolved() -> None:
    record = parsed("application-profile")
    assert record.model.kind is ModelKind.APPLICATION_PROFILE
    assert (
        record.model.base_id == f"arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/k3xq9z7w2m1p"
    )


# ---- lines that are not records --------------------------------------------------------------


@pytest.mark.parametrize(
    "line", [SETUP := "Permissions are correctly set for Amazon Bedrock logs.", SETUP + "\n"]
)
def test_setup_line_is_skipped(line: str) -> None:
    assert parse_line(line, timestamp_ms=0) == Skipped("setup-line")
    assert parse_line(line.encode(), timestamp_ms=0) == Skipped("setup-line")


def test_sample_setup_line_event_is_skipped() -> None:
    message = message_of(load_event("metering/record-setup-line"))
    assert parse_line(message, timestamp_ms=0) == Skipped("setup-line")


def _without(key: str) -> dict[str, Any]:
    record = valid_record()
    del record[key]
    return record


def _with_input(**fields: Any) -> dict[str, Any]:
    record = valid_record()
    record["input"] = {**record["input"], **fields}
    return record


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (f"{MARKER} hello", "not JSON"),
        ("", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (json.dumps(valid_record())[:-40], "truncated JSON"),
        ("[1, 2, 3]", "not a JSON object"),
        (f'"{MARKER}"', "not a JSON object"),
        (json.dumps({"level": "INFO", "msg": MARKER}), "not an invocation record (schemaType)"),
        (json.dumps(valid_record(schemaVersion="2.0")), "unsupported schemaVersion"),
        (json.dumps(_without("requestId")), "missing requestId"),
        (json.dumps(valid_record(requestId="")), "missing requestId"),
        (json.dumps(_without("modelId")), "missing modelId"),
        (json.dumps(valid_record(modelId=42)), "missing modelId"),
        (json.dumps(_without("operation")), "missing operation"),
        (json.dumps(valid_record(region=["us-east-1"])), "region is not a string"),
        (json.dumps(valid_record(errorCode={"code": 1})), "errorCode is not a string"),
        (json.dumps(valid_record(input=[MARKER])), "input is not an object"),
        (json.dumps(valid_record(output=MARKER)), "output is not an object"),
        (json.dumps(valid_record(requestMetadata=MARKER)), "requestMetadata is not an object"),
        (json.dumps(_with_input(inputTokenCount=-1)), "inputTokenCount is negative"),
        (json.dumps(_with_input(inputTokenCount=1.5)), "inputTokenCount is not an integer"),
        (json.dumps(_with_input(inputTokenCount="12")), "inputTokenCount is not an integer"),
        (
            json.dumps(_with_input(cacheReadInputTokenCount=True)),
            "cacheReadInputTokenCount is not an integer",
        ),
        (
            json.dumps(_with_input(cacheWriteInputTokenCount=2**70)),
            "cacheWriteInputTokenCount is not an integer",
        ),
    ],
)
def test_malformed_lines_come_back_with_a_reason_and_no_content(line: str | bytes, reason: str) -> None:
    result = parse_line(line, timestamp_ms=0)
    assert result == Malformed(reason)
    assert MARKER not in result.reason


def test_negative_output_count_is_malformed() -> None:
    record = valid_record()
    record["output"]["outputTokenCount"] = -5
    assert parse_line(json.dumps(record), timestamp_ms=0) == Malformed("outputTokenCount is negative")


@pytest.mark.parametrize("value", [None, 12, 3.5, [], {}, object()])
def test_non_text_input_is_malformed_not_raised(value: Any) -> None:
    result = parse_line(value, timestamp_ms=0)
    assert isinstance(result, Malformed)


def test_odd_body_values_do_not_discard_the_billing_figures() -> None:
    record = valid_record()
    record["output"]["outputBodyJson"] = {"metrics": {"latencyMs": "fast"}, "stopReason": 7, "usage": []}
    result = parse_line(json.dumps(record), timestamp_ms=0)
    assert isinstance(result, InvocationRecord)
    assert (result.input_tokens, result.output_tokens, result.latency_ms, result.stop_reason) == (
        412,
        96,
        None,
        None,
    )
