"""The EMF the meter prints: the contract's shape, exact sums and per-request samples, EMF limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bedrock_watch import contract, emf
from bedrock_watch.contract import METERING_METRICS
from bedrock_watch.emf import MAX_AGE_MS, EmfWriter
from bedrock_watch.metering import Meter, MeteringSettings
from bedrock_watch.profiles import ProfileResolver
from bedrock_watch.records import ErrorClass
from sandbox.metrics import emf_documents, read_emf
from tests.unit.metering.conftest import MINUTE, NOW, FlatPrices, expected_figures, failed, record

NS = "BedrockWatch"


def directives(document: dict[str, Any]) -> dict[tuple[tuple[str, ...], ...], set[str]]:
    """(dimension sets) -> metric names of each directive of one document."""
    return {
        tuple(tuple(s) for s in d["Dimensions"]): {m["Name"] for m in d["Metrics"]}
        for d in document["_aws"]["CloudWatchMetrics"]
    }


@pytest.mark.parametrize("level", contract.METRIC_DETAIL_LEVELS)
def test_documents_carry_the_namespace_the_levels_dimension_sets_and_contract_units(
    make_meter: Callable[..., Meter], capsys: pytest.CaptureFixture[str], level: str
) -> None:
    # Given one successful and one throttled request for the same model and application
    meter = make_meter(namespace="Team/Bedrock", metric_detail=level)
    result = meter.meter_records(
        [record(ttft_ms=200.0), failed("ThrottlingException", ErrorClass.THROTTLE)], now_ms=NOW
    )
    # When the EMF is printed and read back from stdout
    print(result.emf, end="")
    documents = list(emf_documents(capsys.readouterr().out))
    # Then there is one document with the contract's namespace, and each metric it publishes sits in
    # exactly one directive, at exactly the dimension sets the contract gives it at this level
    assert len(documents) == 1
    document = documents[0]
    seen: dict[str, tuple[tuple[str, ...], ...]] = {}
    for directive in document["_aws"]["CloudWatchMetrics"]:
        assert directive["Namespace"] == "Team/Bedrock"
        for metric in directive["Metrics"]:
            assert metric["Name"] not in seen, f"{metric['Name']} is in two directives"
            assert metric["Unit"] == METERING_METRICS[metric["Name"]]
            seen[metric["Name"]] = tuple(tuple(s) for s in directive["Dimensions"])
    for name in ("Requests", "Errors", "Throttles", "CostUSD", "Latency", "TimeToFirstToken"):
        assert seen[name] == contract.spec(name).dimension_sets(level), name
    assert document["ModelId"] == "anthropic.claude-3-haiku-20240307-v1:0"
    assert document["Application"] == "chat"
    assert document["_aws"]["Timestamp"] == NOW - 5 * MINUTE
    assert (document["Requests"], document["Errors"], document["Throttles"]) == (2, 1, 1)


def test_lean_publishes_all_traffic_and_cost_per_application_and_keeps_the_rest_as_fields(
    make_meter: Callable[..., Meter],
) -> None:
    # Given a truncated request metered at the default level
    (document,) = emf_documents(
        make_meter().meter_records([record(stop_reason="max_tokens")], now_ms=NOW).emf
    )
    groups = directives(document)
    # Then CostUSD is billed per application too, everything else for all traffic only, and the
    # truncation (read by no alarm) is a field of the document, not a metric
    assert groups[((), ("Application",))] == {"CostUSD"}
    assert "TruncatedResponses" not in set().union(*groups.values())
    assert document["TruncatedResponses"] == 1
    assert all(("ModelId",) not in sets for sets in groups)


def test_zero_metrics_are_omitted_but_requests_and_errors_are_kept(make_meter: Callable[..., Meter]) -> None:
    # Given requests without errors, cache tokens, truncations or guardrail interventions
    result = make_meter(metric_detail="full").meter_records([record(), record()], now_ms=NOW)
    (document,) = emf_documents(result.emf)
    names = set().union(*directives(document).values())
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


def value_of(record_: Any, dimension: str) -> str:
    return record_.model.base_id if dimension == "ModelId" else (record_.application or "unattributed")


def assert_sums_at_every_published_set(store: Any, records: list[Any], level: str) -> None:
    """For every metering metric and every dimension set: the metric exists exactly where the
    contract publishes it at `level`, and there its sums (sample counts for per-request metrics)
    equal the records' totals for every dimension value."""
    for name in METERING_METRICS:
        if name == "MalformedRecords":
            continue
        published = contract.spec(name).dimension_sets(level)
        for dimension_set in contract.DIMENSION_SETS:
            groups: dict[tuple[str, ...], list[Any]] = {}
            for r in records:
                groups.setdefault(tuple(value_of(r, d) for d in dimension_set), []).append(r)
            for values, mine in groups.items():
                dims = dict(zip(dimension_set, values, strict=True))
                found = store.get(NS, name, **dims)
                expected = expected_figures(mine).get(name, 0)
                if dimension_set not in published:
                    assert not found.values, f"{name} {dims} is published at {level}"
                elif name in contract.PER_REQUEST_METRICS:
                    assert len(found.values) == expected, (name, dims)
                else:
                    assert found.sum == pytest.approx(expected, abs=1e-9), (name, dims)


@pytest.mark.parametrize("level", contract.METRIC_DETAIL_LEVELS)
def test_sums_are_exact_at_every_published_dimension_set_across_many_series(
    make_meter: Callable[..., Meter], level: str
) -> None:
    # Given 600 requests over 6 models, 5 applications (one unattributed) and 3 minutes, with
    # errors, truncations, cache tokens and an unpriced model among them
    models = [f"vendor.model-{i}" for i in range(5)] + ["unpriced.custom"]
    apps = ["a", "b", "c", "d", None]
    records = [
        failed("ModelTimeoutException", ErrorClass.TIMEOUT, application=apps[i % 5])
        if i % 13 == 0
        else record(
            models[i % 6],
            apps[i % 5],
            timestamp_ms=NOW - (i % 3) * MINUTE,
            input_tokens=i,
            output_tokens=2 * i + 1,
            cache_read_tokens=i % 7,
            cache_write_tokens=i % 11,
            stop_reason="max_tokens" if i % 17 == 0 else "end_turn",
            ttft_ms=100.0 if i % 2 else None,
        )
        for i in range(600)
    ]
    # When metered at `level` and read back as CloudWatch would
    store = read_emf([make_meter(metric_detail=level).meter_records(records, now_ms=NOW).emf])
    # Then every published roll-up equals the records' totals, and nothing else is published
    assert_sums_at_every_published_set(store, records, level)


def test_a_metric_with_more_than_100_samples_is_split_without_losing_or_doubling_any(
    make_meter: Callable[..., Meter],
) -> None:
    # Given 250 streamed requests of one model and application in one minute
    records = [
        record(latency_ms=float(1000 + i), ttft_ms=float(100 + i), output_tokens=90) for i in range(250)
    ]
    result = make_meter(metric_detail="model").meter_records(records, now_ms=NOW)
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
    store = read_emf([make_meter(metric_detail="full").meter_records(records, now_ms=NOW).emf])
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
    store = read_emf([make_meter(metric_detail="model").meter_records(records, now_ms=NOW).emf])
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
    st.sampled_from(contract.METRIC_DETAIL_LEVELS),
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
    ),
)
def test_any_batch_roundtrips_to_exact_sums_and_sample_counts(
    level: str, rows: list[tuple[object, ...]]
) -> None:
    meter = Meter(MeteringSettings(metric_detail=level), FlatPrices(), ProfileResolver({}))  # type: ignore[arg-type]
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
    assert_sums_at_every_published_set(store, records, level)


def test_documents_past_100_metrics_are_split_not_truncated(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a (hypothetical) contract of 150 summed metrics, all non-zero in one series
    names = [f"Metric{i}" for i in range(150)]
    monkeypatch.setattr(emf, "_DEFINITIONS", {n: {"Name": n, "Unit": "Count"} for n in names})
    series = emf.Series(sums=dict.fromkeys(names, 2), samples={})
    writer = emf.EmfWriter(NS)
    monkeypatch.setattr(writer, "_group_of", dict.fromkeys(names, 0))
    # When it is written
    documents = list(writer.series_documents((NOW, "m", "a", None, None), series, NOW))
    # Then two documents carry 100 and 50 metrics, each metric exactly once
    assert [len(d["_aws"]["CloudWatchMetrics"][0]["Metrics"]) for d in documents] == [100, 50]
    store = read_emf([EmfWriter.render(documents)])
    assert all(store.get(NS, n).sum == 2 for n in names)


def test_route_and_identity_are_fields_of_every_document_and_bounded_per_container(
    make_meter: Callable[..., Meter],
) -> None:
    # Given calls through two routes, one without, and a caller minting a session name per call
    sessions = [record(route="chat", identity=f"arn:aws:sts::1:assumed-role/app/s-{i}") for i in range(600)]
    others = [record(route="summarise", identity="arn:aws:iam::1:user/dev"), record(identity=None)]
    meter = make_meter()
    documents = list(emf_documents(meter.meter_records([*sessions, *others], now_ms=NOW).emf))
    # Then each document names its route and caller as fields (no dimension, so no metric)
    identities = {d.get("Identity") for d in documents if "Requests" in d}
    assert {d.get("Route") for d in documents if "Requests" in d} == {"chat", "summarise", None}
    # and past 500 distinct callers in a container further ones are metered as `other`
    assert "other" in identities
    assert len(identities - {"other", None}) == 500
    assert sum(d["Requests"] for d in documents if "Requests" in d) == 602
    for d in documents:
        for directive in d["_aws"]["CloudWatchMetrics"]:
            assert not any({"Route", "Identity"} & set(s) for s in directive["Dimensions"])
