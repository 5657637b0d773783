"""The EMF the meter prints: the contract's shape, exact sums and per-request samples, EMF limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bedrock_watch import emf
from bedrock_watch.contract import DIMENSION_SETS, METERING_METRICS
from bedrock_watch.emf import MAX_AGE_MS, EmfWriter
from bedrock_watch.metering import Meter, MeteringSettings
from bedrock_watch.profiles import ProfileResolver
from bedrock_watch.records import ErrorClass
from sandbox.metrics import emf_documents, read_emf
from tests.unit.metering.conftest import MINUTE, NOW, FlatPrices, failed, record

NS = "BedrockWatch"


def test_documents_carry_the_namespace_the_four_dimension_sets_and_contract_units(
    make_meter: Callable[..., Meter], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one successful and one throttled request for the same model and application
    meter = make_meter(namespace="Team/Bedrock")
    result = meter.meter_records(
        [record(ttft_ms=200.0), failed("ThrottlingException", ErrorClass.THROTTLE)], now_ms=NOW
    )
    # When the EMF is printed and read back from stdout
    print(result.emf, end="")
    documents = list(emf_documents(capsys.readouterr().out))
    # Then there is one document with the contract's namespace, dimension sets and units
    assert len(documents) == 1
    (directive,) = documents[0]["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Team/Bedrock"
    assert [tuple(s) for s in directive["Dimensions"]] == list(DIMENSION_SETS)
    assert documents[0]["ModelId"] == "anthropic.claude-3-haiku-20240307-v1:0"
    assert documents[0]["Application"] == "chat"
    for metric in directive["Metrics"]:
        assert metric["Unit"] == METERING_METRICS[metric["Name"]]
    assert documents[0]["_aws"]["Timestamp"] == NOW - 5 * MINUTE
    assert documents[0]["Requests"] == 2
    assert documents[0]["Errors"] == 1
    assert documents[0]["Throttles"] == 1


def test_zero_metrics_are_omitted_but_requests_and_errors_are_kept(make_meter: Callable[..., Meter]) -> None:
    # Given requests without errors, cache tokens, truncations or guardrail interventions
    result = make_meter().meter_records([record(), record()], now_ms=NOW)
    (document,) = emf_documents(result.emf)
    names = {m["Name"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    # Then the denominators are there (Errors = 0) and no other zero is published
    assert document["Errors"] == 0
    assert {
        "Requests",
        "Errors",
        "InputTokens",
        "OutputTokens",
        "TotalTokens",
        "CostUSD",
        "Latency",
        "OutputTokensPerSecond",
    } == names
    for absent in (
        "Throttles",
        "CacheReadInputTokens",
        "TruncatedResponses",
        "UnpricedRequests",
        "TimeToFirstToken",
    ):
        assert absent not in document


def test_sums_are_exact_per_model_per_application_and_overall_across_many_series(
    make_meter: Callable[..., Meter],
) -> None:
    # Given 600 requests over 6 models, 5 applications (one unattributed) and 3 minutes
    models = [f"vendor.model-{i}" for i in range(6)]
    apps = ["a", "b", "c", "d", None]
    records = [
        record(
            models[i % 6],
            apps[i % 5],
            timestamp_ms=NOW - (i % 3) * MINUTE,
            input_tokens=i,
            output_tokens=2 * i + 1,
            cache_read_tokens=i % 7,
            cache_write_tokens=i % 11,
        )
        for i in range(600)
    ]
    # When metered and read back as CloudWatch would
    store = read_emf([make_meter().meter_records(records, now_ms=NOW).emf])
    # Then every roll-up equals the records' totals
    assert store.get(NS, "Requests").sum == 600
    assert store.get(NS, "InputTokens").sum == sum(r.input_tokens for r in records)
    assert store.get(NS, "TotalTokens").sum == sum(r.total_tokens for r in records)
    assert store.get(NS, "CostUSD").sum == pytest.approx(
        sum(r.input_tokens * 1e-6 + r.output_tokens * 2e-6 for r in records), abs=1e-12
    )
    for m in models:
        mine = [r for r in records if r.model.base_id == m]
        assert store.get(NS, "OutputTokens", ModelId=m).sum == sum(r.output_tokens for r in mine)
        assert store.get(NS, "CacheWriteInputTokens", ModelId=m).sum == sum(
            r.cache_write_tokens for r in mine
        )
    for app in apps:
        name = app or "unattributed"
        mine = [r for r in records if r.application == app]
        assert store.get(NS, "Requests", Application=name).sum == len(mine)
        assert store.get(NS, "CacheReadInputTokens", Application=name).sum == sum(
            r.cache_read_tokens for r in mine
        )
    pair = [r for r in records if r.model.base_id == models[1] and r.application == "b"]
    assert store.get(NS, "InputTokens", ModelId=models[1], Application="b").sum == sum(
        r.input_tokens for r in pair
    )


def test_a_metric_with_more_than_100_samples_is_split_without_losing_or_doubling_any(
    make_meter: Callable[..., Meter],
) -> None:
    # Given 250 streamed requests of one model and application in one minute
    records = [
        record(latency_ms=float(1000 + i), ttft_ms=float(100 + i), output_tokens=90) for i in range(250)
    ]
    result = make_meter().meter_records(records, now_ms=NOW)
    documents = list(emf_documents(result.emf))
    # Then three documents carry 100 + 100 + 50 samples, sums appear once, and every array fits EMF
    assert [len(d["Latency"]) for d in documents] == [100, 100, 50]
    assert sum("Requests" in d for d in documents) == 1
    store = read_emf([result.emf])  # raises if any document breaks an EMF limit
    assert store.get(NS, "Requests").sum == 250
    assert sorted(store.get(NS, "Latency").values) == [1000 + i for i in range(250)]
    assert store.get(NS, "Latency").percentile(95) == 1000 + 237
    assert len(store.get(NS, "TimeToFirstToken", ModelId=records[0].model.base_id).values) == 250


def test_per_request_metrics_have_one_sample_per_request_that_carries_the_figure(
    make_meter: Callable[..., Meter],
) -> None:
    # Given a Converse call (latency only), a stream (latency and TTFT), an InvokeModel call (neither)
    records = [
        record(latency_ms=1000.0, output_tokens=100),
        record(
            operation="InvokeModelWithResponseStream", latency_ms=2500.0, ttft_ms=500.0, output_tokens=400
        ),
        record(operation="InvokeModel", latency_ms=None, output_tokens=70),
        failed("ModelTimeoutException", ErrorClass.TIMEOUT),
    ]
    store = read_emf([make_meter().meter_records(records, now_ms=NOW).emf])
    # Then latency has 2 samples, TTFT 1, and tokens/s is output ÷ (latency - TTFT)
    assert sorted(store.get(NS, "Latency").values) == [1000, 2500]
    assert store.get(NS, "TimeToFirstToken").values == [500]
    assert sorted(store.get(NS, "OutputTokensPerSecond").values) == [100.0, 200.0]
    assert store.get(NS, "Timeouts", Application="chat").sum == 1


def test_truncations_guardrails_and_unpriced_requests_are_counted(make_meter: Callable[..., Meter]) -> None:
    # Given one truncated, two blocked, one unpriced and one failed request
    records = [
        record(stop_reason="max_tokens"),
        record(stop_reason="guardrail_intervened"),
        record(stop_reason="content_filtered"),
        record("unpriced.custom-model"),
        failed("ValidationException", ErrorClass.VALIDATION),
    ]
    store = read_emf([make_meter().meter_records(records, now_ms=NOW).emf])
    # Then each is counted where a user would look for it (a failed request is not "unpriced")
    assert store.get(NS, "TruncatedResponses").sum == 1
    assert store.get(NS, "GuardrailInterventions").sum == 2
    assert store.get(NS, "UnpricedRequests", ModelId="unpriced.custom-model").sum == 1
    assert store.get(NS, "ValidationErrors").sum == 1


def test_timestamps_older_than_cloudwatch_accepts_are_moved_into_the_window(
    make_meter: Callable[..., Meter],
) -> None:
    # Given a record 20 days old (a replay) and one from now
    result = make_meter().meter_records(
        [record(timestamp_ms=NOW - 20 * 24 * 3600 * 1000), record(timestamp_ms=NOW)], now_ms=NOW
    )
    stamps = sorted(d["_aws"]["Timestamp"] for d in emf_documents(result.emf))
    # Then both are published (not dropped by CloudWatch) and the clamp is reported
    assert stamps[0] >= NOW - MAX_AGE_MS
    assert result.summary.clamped_timestamps == 1


def test_emf_bytes_per_request_stay_small_when_requests_share_a_series(
    make_meter: Callable[..., Meter],
) -> None:
    # Given 400 requests over 4 (model, application) pairs in one minute
    records = [record(f"vendor.model-{i % 2}", f"app-{i % 4 // 2}", ttft_ms=300.0) for i in range(400)]
    result = make_meter().meter_records(records, now_ms=NOW)
    # Then one document per pair, and the EMF costs well under 60 bytes a request
    assert result.summary.emf_bytes / 400 < 60
    assert result.summary.documents == 4


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["vendor.a", "vendor.b", "vendor.c"]),
            st.sampled_from(["x", "y", None]),
            st.integers(0, 4),  # minute offset
            st.integers(0, 10**6),  # input tokens
            st.integers(0, 10**5),  # output tokens
            st.none() | st.integers(1, 120_000),  # latency ms
            st.booleans(),  # failed
        ),
        max_size=320,
    )
)
def test_any_batch_roundtrips_to_exact_sums_and_sample_counts(rows: list[tuple[object, ...]]) -> None:
    meter = Meter(MeteringSettings(), FlatPrices(), ProfileResolver({}))  # type: ignore[arg-type]
    records = []
    for model_id, app, minute, tokens_in, tokens_out, latency, failed_call in rows:
        fields: dict[str, Any] = {"timestamp_ms": NOW - int(str(minute)) * MINUTE}
        if failed_call:
            records.append(failed("ThrottlingException", ErrorClass.THROTTLE, **fields))
        else:
            records.append(
                record(
                    str(model_id),
                    app if app is None else str(app),
                    input_tokens=tokens_in,
                    output_tokens=tokens_out,
                    latency_ms=latency,
                    **fields,
                )
            )
    store = read_emf([meter.meter_records(records, now_ms=NOW).emf])  # raises on any EMF limit
    assert store.get(NS, "Requests").sum == len(records)
    for model_id in ("vendor.a", "vendor.b", "vendor.c"):
        mine = [r for r in records if r.model.base_id == model_id]
        assert store.get(NS, "Requests", ModelId=model_id).sum == len(mine)
        assert store.get(NS, "InputTokens", ModelId=model_id).sum == sum(r.input_tokens for r in mine)
        assert store.get(NS, "Errors", ModelId=model_id).sum == sum(r.error_code is not None for r in mine)
        assert len(store.get(NS, "Latency", ModelId=model_id).values) == sum(
            r.latency_ms is not None for r in mine
        )
    for app in ("x", "y", None):
        mine = [r for r in records if r.application == app]
        name = app or "unattributed"
        assert store.get(NS, "OutputTokens", Application=name).sum == sum(r.output_tokens for r in mine)


def test_documents_past_100_metrics_are_split_not_truncated(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a (hypothetical) contract of 150 summed metrics, all non-zero in one series
    names = [f"Metric{i}" for i in range(150)]
    monkeypatch.setattr(emf, "_DEFINITIONS", {n: {"Name": n, "Unit": "Count"} for n in names})
    series = emf.Series(sums=dict.fromkeys(names, 2), samples={})
    # When it is written
    documents = list(emf.EmfWriter(NS).series_documents((NOW, "m", "a"), series, NOW))
    # Then two documents carry 100 and 50 metrics, each metric exactly once
    assert [len(d["_aws"]["CloudWatchMetrics"][0]["Metrics"]) for d in documents] == [100, 50]
    store = read_emf([EmfWriter.render(documents)])
    assert all(store.get(NS, n).sum == 2 for n in names)
