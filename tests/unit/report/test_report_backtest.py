"""The backtest replays the template's alarms over the logs: which would have fired, when, and
which cannot be judged from invocation logs at all."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from sandbox.__main__ import main
from sandbox.report import build_report, plan_backtest
from sandbox.template import load_template
from tests.unit.report.conftest import START, line, record, write_lines

ERROR_RATE_CRITICAL = "bedrock-watch.error-rate-critical"


def _traffic(tmp_path: Path, failing_minutes: range) -> Path:
    """45 minutes, 6 requests a minute; in `failing_minutes` 2 of the 6 fail with a server error."""
    lines = []
    for minute in range(45):
        for n in range(6):
            when = START + timedelta(minutes=minute, seconds=n * 10)
            error = "InternalServerException" if minute in failing_minutes and n < 2 else None
            lines.append(line(record(f"m{minute}-{n}", when, error_code=error)))
    return write_lines(tmp_path / "traffic.jsonl", lines)


def _alarm_threshold(name: str) -> float:
    metric, _, _, _ = plan_backtest("BedrockWatch", load_template())
    threshold = next(a.threshold for a in metric if a.name == name)
    assert threshold is not None
    return threshold


def test_an_error_burst_fires_the_error_rate_alarm_when_cloudwatch_would_and_it_resolves(
    tmp_path: Path,
) -> None:
    # Given 10 minutes (12:15-12:25) where a third of requests fail, above the template's threshold
    assert _alarm_threshold(ERROR_RATE_CRITICAL) <= 100 * 2 / 6
    path = _traffic(tmp_path, range(15, 25))
    # When the logs are backtested
    fired = build_report([path]).as_dict()["backtest"]["fired"]
    episodes = {e["alarm"]: e for e in fired}
    # Then the critical error-rate alarm (2 of 3 five-minute periods) fires once both bad periods
    # are complete, at 12:25, and resolves when only one of the last three is bad, at 12:35
    assert episodes[ERROR_RATE_CRITICAL]["fired_at"] == "2026-11-26T12:25:00Z"
    assert episodes[ERROR_RATE_CRITICAL]["resolved_at"] == "2026-11-26T12:35:00Z"
    assert "2 out of the last 3 datapoints" in episodes[ERROR_RATE_CRITICAL]["reason"]
    # and the 3-of-3 signal alarm, which needs three bad periods in a row, does not fire
    assert "bedrock-watch.signal-error-rate-above-normal" not in episodes


def test_healthy_traffic_fires_nothing(tmp_path: Path) -> None:
    path = _traffic(tmp_path, range(0))
    assert build_report([path]).as_dict()["backtest"]["fired"] == []


def test_alarms_the_logs_cannot_judge_are_listed_as_skipped_with_the_reason() -> None:
    metric, composite, skipped, approximated = plan_backtest("BedrockWatch", load_template())
    evaluated = {a.name for a in metric} | {c.name for c in composite}
    assert ERROR_RATE_CRITICAL in evaluated
    assert "bedrock-watch.degradation" in evaluated  # a composite of two evaluated alarms
    assert skipped["bedrock-watch.budget-critical"].startswith("budget metric BudgetUtilization")
    assert skipped["bedrock-watch.meter-blind"].startswith("AWS/Bedrock-native metric")
    assert skipped["bedrock-watch.metering-errors"].startswith("AWS/Lambda metric")
    assert not evaluated & set(skipped)
    assert set(approximated) == {a.name for a in metric if a.threshold_metric_id}


def test_json_output_has_the_documented_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _traffic(tmp_path, range(15, 25))
    assert main(["report", str(path), "--json", "--quiet"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema_version"] == 1
    assert set(document) >= {
        "files", "lines", "records", "duplicates", "skipped_lines", "malformed", "unresolved_profiles",
        "span", "percentile_relative_error", "totals", "models", "applications", "backtest",
    }  # fmt: skip
    group = document["models"]["anthropic.claude-3-5-haiku-20241022-v1:0"]
    assert set(group) == {
        "requests", "errors", "error_classes", "tokens", "cost_usd", "unpriced_requests",
        "truncated_responses", "guardrail_interventions", "latency_ms", "ttft_ms", "output_tokens_per_second",
    }  # fmt: skip
    assert set(group["tokens"]) == {"input", "output", "cache_read", "cache_write", "total"}
    assert set(group["latency_ms"]) == {"count", "coverage", "p50", "p95", "p99"}
    assert set(document["backtest"]) == {"evaluated", "approximated", "skipped", "fired"}
    assert set(document["backtest"]["fired"][0]) == {"alarm", "fired_at", "resolved_at", "reason"}
    assert document["applications"]["support-bot"]["requests"] == 270


def test_html_report_is_self_contained_with_charts_thresholds_and_fired_times(tmp_path: Path) -> None:
    path = _traffic(tmp_path, range(15, 25))
    html = tmp_path / "report.html"
    assert main(["report", str(path), "--html", str(html), "--quiet"]) == 0
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") >= 5
    assert 'class="threshold"' in page  # alarm thresholds drawn
    assert f"{ERROR_RATE_CRITICAL} fired" in page  # fired time marked
    assert "<script" not in page
    assert "src=" not in page  # nothing fetched from anywhere
    assert "href=" not in page


def test_a_bad_option_file_is_an_error_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "prices.json"
    bad.write_text("[1, 2]")
    assert main(["report", str(tmp_path), "--price-overrides", str(bad)]) == 2
    assert f"--price-overrides {bad}: must hold a JSON object" in capsys.readouterr().err


def test_max_applications_below_one_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path), "--max-applications", "0"]) == 2
    assert "--max-applications must be at least 1, got 0" in capsys.readouterr().err
