"""What `report` says about the event library's sample records and the demo log: the figures a
user would check by hand, and agreement with what the deployed metering function publishes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from bedrock_watch.metering import Meter, MeteringSettings
from sandbox.events import EVENTS
from sandbox.metrics import parse_emf, percentile
from sandbox.report import build_report, render_text, settings_for
from sandbox.traffic import PROFILE_MAP

SAMPLES = sorted((EVENTS / "metering").glob("record-*.json"))
DEMO = EVENTS / "metering" / "demo-invocations.jsonl.gz"
APPLICATION_PROFILE = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/k3xq9z7w2m1p"


def _records() -> list[dict]:
    docs = [json.loads(path.read_text()) for path in SAMPLES]
    return [doc for doc in docs if isinstance(doc, dict)]


def _total(key: str, section: str) -> int:
    return sum(int((doc.get(section) or {}).get(key) or 0) for doc in _records())


def test_sample_records_add_up_to_what_the_files_say() -> None:
    # Given the event library's sample records (one per file, plus the logging set-up line)
    # When reported
    document = build_report(SAMPLES).as_dict()
    totals = document["totals"]
    # Then every record is a request, the set-up line is skipped, nothing is malformed
    assert totals["requests"] == document["records"] == len(_records()) == 26
    assert document["skipped_lines"] == 1
    assert document["malformed"]["total"] == 0
    # and the token components are the files' own counts (record-input-includes-cache logs its
    # 4 000 cache reads inside its input count as well: they are counted once, as cache reads)
    assert totals["tokens"]["input"] == _total("inputTokenCount", "input") - 4000
    assert totals["tokens"]["output"] == _total("outputTokenCount", "output")
    assert totals["tokens"]["cache_read"] == _total("cacheReadInputTokenCount", "input")
    assert totals["tokens"]["cache_write"] == _total("cacheWriteInputTokenCount", "input")
    # and each error file lands in its class
    assert totals["errors"] == 5
    assert totals["error_classes"] == {
        "Throttles": 1,  # record-error-throttling
        "Timeouts": 1,  # record-error-model-timeout
        "ServerErrors": 1,  # record-error-internal-server
        "ValidationErrors": 1,  # record-error-validation
        "AuthErrors": 1,  # record-error-access-denied
    }
    # and the application profile, not being in --profile-map, is named and left unpriced
    assert document["unresolved_profiles"] == [APPLICATION_PROFILE]
    assert APPLICATION_PROFILE in document["models"]


def test_per_model_and_application_figures_and_a_price_override(tmp_path: Path) -> None:
    # Given Claude 3.5 Haiku priced at $1 / $2 per million input / output tokens, and the profile mapped
    overrides = tmp_path / "prices.json"
    overrides.write_text(
        json.dumps({"anthropic.claude-3-5-haiku-20241022-v1:0": {"input": 1.0, "output": 2.0}})
    )
    profiles = tmp_path / "profiles.json"
    profiles.write_text(json.dumps({APPLICATION_PROFILE: "anthropic.claude-3-haiku-20240307-v1:0"}))
    settings = settings_for(str(profiles), str(overrides))
    # When reported
    document = build_report(SAMPLES, settings).as_dict()
    haiku = document["models"]["anthropic.claude-3-5-haiku-20241022-v1:0"]
    # Then Claude 3.5 Haiku served record-converse (412 in, 96 out, 1873 ms) and one validation error
    assert haiku["requests"] == 2
    assert haiku["error_classes"] == {"ValidationErrors": 1}
    assert haiku["cost_usd"] == pytest.approx(412 / 1e6 * 1.0 + 96 / 1e6 * 2.0)
    assert haiku["latency_ms"]["count"] == 1
    assert haiku["latency_ms"]["coverage"] == 0.5
    assert haiku["latency_ms"]["p50"] == pytest.approx(1873, rel=0.01)
    # and the mapped profile is metered as its model, so it is no longer unresolved
    assert document["unresolved_profiles"] == []
    assert APPLICATION_PROFILE not in document["models"]
    assert document["applications"]["mailer"]["requests"] == 2  # the profile call and a server error
    assert document["totals"]["unpriced_requests"] == 2  # provisioned model and unknown model


def test_the_demo_log_matches_what_the_metering_function_publishes_for_it() -> None:
    # Given the demo log and the metering function's own output for it (one batch, EMF)
    settings = MeteringSettings(profile_map=PROFILE_MAP)
    with gzip.open(DEMO, "rt") as demo:
        events = [json.loads(line) for line in demo]
    emf = Meter.from_settings(settings).meter_log_events(events, now_ms=events[-1]["timestamp"]).emf
    published: dict[str, float] = {}
    latencies: list[tuple[float, float]] = []
    for doc in emf.splitlines():
        for sample in parse_emf(doc):
            if sample.key.dimensions == ():
                published[sample.key.name] = published.get(sample.key.name, 0) + sum(sample.values)
                if sample.key.name == "Latency":
                    latencies.extend((v, 1.0) for v in sample.values)
    # When reported (in chunks, with bounded aggregates)
    document = build_report([DEMO], settings).as_dict()
    totals = document["totals"]
    # Then the demo's known make-up shows: 3,000 requests, one set-up line, one truncated record
    assert totals["requests"] == document["records"] == 3000
    assert document["skipped_lines"] == 1
    assert document["malformed"]["reasons"] == {"truncated JSON": 1}
    assert document["duplicates"] == document["lines"] - 3000 - 2
    # and every figure agrees with the function's
    assert totals["requests"] == published["Requests"]
    assert totals["errors"] == published["Errors"]
    assert totals["tokens"]["total"] == published["TotalTokens"]
    assert totals["cost_usd"] == pytest.approx(published["CostUSD"], rel=1e-6)
    assert totals["latency_ms"]["count"] == len(latencies)
    for p in (50, 95, 99):
        assert totals["latency_ms"][f"p{p}"] == pytest.approx(percentile(latencies, p), rel=0.0101)


def test_the_text_report_names_models_applications_and_fired_alarms() -> None:
    text = render_text(build_report([DEMO], MeteringSettings(profile_map=PROFILE_MAP)).as_dict())
    assert "Per model" in text
    assert "anthropic.claude-sonnet-4-5-20250929-v1:0" in text
    assert "support-bot" in text
    assert "truncated JSON" in text
    assert "bedrock-watch.error-rate-critical" in text
    assert "AWS/Bedrock-native metric" in text
