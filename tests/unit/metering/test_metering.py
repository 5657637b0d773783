"""The invocation_metrics handler on whole subscription deliveries: decoding, dedupe, malformed and
skipped lines, the application guard, privacy of the output."""

from __future__ import annotations

import base64
import gzip
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from bedrock_watch.errors import ConfigurationError
from bedrock_watch.metering import EnvelopeError, MeteringSettings, decode_envelope
from sandbox.events import load_event
from sandbox.metering import forget_powertools_logger
from sandbox.metrics import emf_documents, read_emf
from sandbox.shims import LambdaContext
from sandbox.template import ROOT
from sandbox.traffic import (
    APPLICATION_PROFILE_ARN,
    DEFAULT_MARKER,
    PROFILE_MAP,
    SETUP_LINE,
    SONNET_45,
    AppSpec,
    TrafficProfile,
    generate,
    subscription_event,
)

NS = "BedrockWatch"
Handler = Callable[[dict[str, Any]], dict[str, Any]]
ENV = {
    "METRICS_NAMESPACE": NS,
    "APPLICATION_METADATA_KEY": "application",
    "MAX_APPLICATIONS": "50",
    "PRICE_OVERRIDES": "{}",
    "INFERENCE_PROFILE_MAP": json.dumps(PROFILE_MAP),
    "POWERTOOLS_SERVICE_NAME": "invocation_metrics",
}


def load_handler_module(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    """A fresh copy of functions/invocation_metrics/app.py, imported with `env` (a cold start)."""
    forget_powertools_logger(ENV["POWERTOOLS_SERVICE_NAME"])  # log to this test's captured stdout
    for name, value in {**ENV, **env}.items():
        monkeypatch.setenv(name, value)
    path = ROOT / "functions" / "invocation_metrics" / "app.py"
    spec = importlib.util.spec_from_file_location("invocation_metrics_app_under_test", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Handler:
    module = load_handler_module(monkeypatch)
    context = LambdaContext(
        "invocation-metrics", "arn:aws:lambda:us-east-1:111122223333:function:invocation-metrics"
    )
    return lambda event: module.lambda_handler(event, context)


def traffic(requests: int = 60, **knobs: Any) -> list[dict[str, Any]]:
    return generate(TrafficProfile(requests=requests, duration_s=50, **knobs))


def test_duplicate_deliveries_of_a_record_are_counted_once(
    handler: Handler, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a delivery where three records arrive twice (at-least-once delivery)
    events = traffic(40, error_rate=0.0)
    batch = events + events[:3]
    # When it is metered
    summary = handler(subscription_event(batch))
    store = read_emf([capsys.readouterr().out])
    # Then each request is counted once and the duplicates are reported
    assert store.get(NS, "Requests").sum == 40
    assert summary["duplicates"] == 3
    assert summary["records"] == 40


def test_control_message_is_ignored(handler: Handler, capsys: pytest.CaptureFixture[str]) -> None:
    # Given the CONTROL_MESSAGE CloudWatch Logs sends when a subscription is created
    summary = handler(load_event("metering/subscription-control"))
    # Then nothing is published and the batch is marked as a control message
    assert list(emf_documents(capsys.readouterr().out)) == []
    assert summary["control_message"] is True
    assert summary["records"] == 0


def test_malformed_lines_are_counted_by_reason_and_never_fail_the_batch(
    handler: Handler, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given good records mixed with a truncated record, foreign JSON, a non-object and a negative count
    good = traffic(10, error_rate=0.0)
    bad_record = json.loads(good[0]["message"])
    bad_record["output"]["outputTokenCount"] = -5
    bad_record["requestId"] = "negative-count"
    ts = good[0]["timestamp"]
    bad = [
        {"timestamp": ts, "message": good[1]["message"][:200]},
        {"timestamp": ts, "message": json.dumps({"level": "INFO", "msg": "some other app"})},
        {"timestamp": ts, "message": "[1, 2, 3]"},
        {"timestamp": ts, "message": json.dumps(bad_record)},
    ]
    # When the batch is metered
    summary = handler(subscription_event(good + bad))
    store = read_emf([capsys.readouterr().out])
    # Then the good records are metered, the bad ones counted (in [] only) with their reasons
    assert store.get(NS, "Requests").sum == 10
    assert store.get(NS, "MalformedRecords").sum == 4
    assert summary["malformed"] == 4
    assert sum(summary["malformed_reasons"].values()) == 4
    assert len(summary["malformed_reasons"]) >= 3
    assert all(len(reason) < 80 for reason in summary["malformed_reasons"])
    assert [key.dimensions for key in store.keys(NS, "MalformedRecords")] == [()]


def test_the_logging_setup_line_is_skipped_not_counted_as_malformed(
    handler: Handler, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the line Bedrock writes when logging is enabled, ahead of a few records
    events = [{"timestamp": traffic(5)[0]["timestamp"], "message": SETUP_LINE}, *traffic(5)]
    summary = handler(subscription_event(events))
    store = read_emf([capsys.readouterr().out])
    # Then it is skipped: no MalformedRecords, five requests
    assert summary["skipped"] == 1
    assert store.get(NS, "MalformedRecords").values == []
    assert store.get(NS, "Requests").sum == 5


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("event", "complaint"),
    [
        ({}, "awslogs.data"),
        ({"awslogs": {"data": "%%% not base64 %%%"}}, "base64"),
        ({"awslogs": {"data": _b64(b"plain bytes, not gzip")}}, "gzip"),
        ({"awslogs": {"data": _b64(gzip.compress(b"{not json"))}}, "JSON"),
        ({"awslogs": {"data": _b64(gzip.compress(b'{"logEvents": []}'))}}, "messageType"),
        ({"awslogs": {"data": _b64(gzip.compress(b'{"messageType": "DATA_MESSAGE"}'))}}, "logEvents"),
    ],
)
def test_an_undecodable_envelope_raises_envelope_error_naming_the_layer(
    handler: Handler, event: dict[str, Any], complaint: str
) -> None:
    # Given a delivery that is not base64(gzip(JSON)) of a subscription payload
    # Then the handler fails (async retries, then the on-failure queue) with a named error
    with pytest.raises(EnvelopeError, match=complaint):
        handler(event)


def _gzip_bomb(inflated_mb: int = 256) -> bytes:
    """About 258 KB of gzip that inflates to `inflated_mb` MB of zeros (built in 1 MB steps)."""
    import zlib

    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"\0" * (1024 * 1024)
    return b"".join(deflate.compress(chunk) for _ in range(inflated_mb)) + deflate.flush()


def test_a_gzip_bomb_is_counted_as_one_malformed_delivery_and_never_inflated_in_full(
    handler: Handler, capsys: pytest.CaptureFixture[str]
) -> None:
    import tracemalloc

    # Given a 258 KB delivery that would inflate to 256 MB (a 128 MB function cannot hold it)
    bomb = _gzip_bomb()
    assert len(bomb) < 300_000
    event = {"awslogs": {"data": _b64(bomb)}}

    # When it is delivered
    tracemalloc.start()
    try:
        summary = handler(event)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then it is not retried (no exception) but counted as one malformed delivery, with the reason
    assert summary["records"] == 0
    assert summary["malformed"] == 1
    [reason] = summary["malformed_reasons"]
    assert "decompresses past 20 MB" in reason
    assert [d["MalformedRecords"] for d in emf_documents(capsys.readouterr().out)] == [1]
    # and decoding it held at most the cap (zlib grows its output buffer, so about twice), never the
    # 256 MB the bomb inflates to: a 128 MB function survives it
    assert peak < 64 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"


def test_no_prompt_or_response_text_reaches_stdout_or_stderr(
    capfd: pytest.CaptureFixture[str], handler: Handler
) -> None:
    # Given traffic whose every prompt and response contains a marker, some records broken mid-body
    events = traffic(80, include_setup_line=True)
    events.append({**events[5], "message": events[5]["message"][:1500]})
    assert all(DEFAULT_MARKER in e["message"] for e in events if '"inputBodyJson"' in e["message"])
    # When the batch is metered, and a bad envelope is refused
    handler(subscription_event(events))
    with pytest.raises(EnvelopeError) as refused:
        handler({"awslogs": {"data": DEFAULT_MARKER}})
    out, err = capfd.readouterr()
    # Then metrics and logs were written, and the marker is nowhere in them
    assert list(emf_documents(out))
    assert "metered batch" in out + err
    assert DEFAULT_MARKER not in out
    assert DEFAULT_MARKER not in err
    assert DEFAULT_MARKER not in str(refused.value)


def test_application_profiles_are_metered_as_the_model_they_wrap(
    handler: Handler, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given traffic that only calls the application inference profile (mapped in INFERENCE_PROFILE_MAP)
    events = traffic(
        30, error_rate=0.0, applications=(AppSpec("support-bot", 1.0, (APPLICATION_PROFILE_ARN,)),)
    )
    handler(subscription_event(events))
    out = capsys.readouterr().out
    store = read_emf([out])
    # Then its requests and cost land on the wrapped base model, not on the ARN (the ModelId field
    # Logs Insights groups by; at `lean` no metric is published per model)
    documents = [d for d in emf_documents(out) if "Requests" in d]
    assert {d["ModelId"] for d in documents} == {SONNET_45}
    assert store.get(NS, "CostUSD").sum > 0
    assert store.get(NS, "UnpricedRequests").sum == 0


def test_applications_past_the_cap_are_metered_as_other_and_untagged_calls_as_unattributed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a function that allows 2 application names, and traffic from 5 named apps plus untagged calls
    module = load_handler_module(monkeypatch, MAX_APPLICATIONS="2")
    events = traffic(200)
    module.lambda_handler(
        subscription_event(events), LambdaContext("f", "arn:aws:lambda:us-east-1:1:function:f")
    )
    out = capsys.readouterr().out
    store = read_emf([out])
    apps = store.dimension_values(NS, "Application")
    # Then 2 names are kept, the rest is "other", untagged calls are "unattributed", and no request is lost
    assert "other" in apps
    assert "unattributed" in apps
    assert len(apps) == 4
    assert sum(store.get(NS, "CostUSD", Application=a).sum for a in apps) == pytest.approx(
        store.get(NS, "CostUSD").sum
    )
    documents = [d for d in emf_documents(out) if "Requests" in d]
    assert {d["Application"] for d in documents} == set(apps)
    assert sum(d["Requests"] for d in documents) == 200


def test_application_names_are_sanitised_before_becoming_a_dimension(
    handler: Handler, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a caller tagging requests with a name full of spaces, newlines and markup, and one with ""
    events = traffic(2, error_rate=0.0)
    first, second = (json.loads(e["message"]) for e in events)
    first["requestMetadata"] = {"application": " my app\n<script>alert(1)</script> " + "x" * 200}
    second["requestMetadata"] = {"application": ""}
    batch = [{**events[0], "message": json.dumps(first)}, {**events[1], "message": json.dumps(second)}]
    handler(subscription_event(batch))
    store = read_emf([capsys.readouterr().out])
    # Then the dimension value is bounded and plain, and the empty tag counts as unattributed
    apps = store.dimension_values(NS, "Application")
    assert "unattributed" in apps
    (named,) = [a for a in apps if a != "unattributed"]
    assert len(named) <= 64
    assert named.startswith("my_app_script_alert")
    assert all(c.isalnum() or c in "._:/@+=-" for c in named)


def test_the_shipped_sample_delivery_meters_every_record(
    handler: Handler, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the sample subscription event shipped in events/ (one record of each kind)
    event = load_event("metering/subscription-data")
    payload = decode_envelope(event)
    # When the handler meters it
    summary = handler(event)
    store = read_emf([capsys.readouterr().out])
    # Then every log event is accounted for: metered, skipped (set-up line) or malformed
    assert summary["log_events"] == len(payload["logEvents"])
    assert summary["records"] + summary["skipped"] + summary["malformed"] + summary["duplicates"] == len(
        payload["logEvents"]
    )
    assert store.get(NS, "Requests").sum == summary["records"]
    assert summary["skipped"] == 1


def test_settings_errors_name_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="INFERENCE_PROFILE_MAP"):
        MeteringSettings.from_env({"INFERENCE_PROFILE_MAP": "[1, 2]"})
    with pytest.raises(ConfigurationError, match="PRICE_OVERRIDES"):
        MeteringSettings.from_env({"PRICE_OVERRIDES": "{oops"})
    with pytest.raises(ConfigurationError, match="MAX_APPLICATIONS"):
        MeteringSettings.from_env({"MAX_APPLICATIONS": "0"})
    assert MeteringSettings.from_env({}).namespace == "BedrockWatch"


def test_importing_the_handler_does_not_import_boto3() -> None:
    # Cold start: boto3 (and botocore's client machinery) load only when a profile ARN needs resolving
    code = "import sys, app; print(sorted(m for m in sys.modules if m.startswith(('boto3', 'botocore.'))))"
    env = {
        **os.environ,
        **ENV,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "layers" / "core"), str(ROOT / "functions" / "invocation_metrics")]
        ),
    }
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.strip() == "[]"
