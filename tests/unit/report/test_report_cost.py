"""`bedrock-watch report` on cost: the same price code as the meter, the bill drift from a Cost
Explorer CSV export (the bill check's comparison) and the savings estimates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bedrock_watch.billing import compare, parse_cost_explorer_csv
from bedrock_watch_cli.main import main
from sandbox.report import build_report

DEMO = "events/metering/demo-invocations.jsonl.gz"
DAY = "2026-11-26"


def test_report_prints_the_drift_from_a_cost_explorer_export_and_the_savings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the demo day's logs, a Cost Explorer export of that day and the chat route
    bill = tmp_path / "bill.csv"
    bill.write_text(
        "Usage type,USE1-Claude4.5Sonnet-input-tokens($),USE1-Claude4.5Sonnet-output-tokens($),"
        "USE1-NovaLite-input-tokens($),USE1-NovaLite-batch-input-tokens($),Total costs($)\n"
        f"Usage type total,8,5,0.2,0.1,13.3\n{DAY},8,5,0.2,0.1,13.3\n"
    )
    routes = tmp_path / "routes.json"
    routes.write_text(
        json.dumps(
            {
                "chat": {
                    "primary": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                    "cheaper": "global.anthropic.claude-haiku-4-5-20251001-v1:0",
                }
            }
        )
    )
    # When reported as JSON
    code = main(
        [
            "report",
            DEMO,
            "--json",
            "--quiet",
            "--bill",
            str(bill),
            "--routes",
            str(routes),
            "--batch-applications",
            "batch-etl",
        ]
    )
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    # Then the drift is the bill check's own comparison of the same figures
    expected = compare(
        parse_cost_explorer_csv(bill.read_text())[0].day,
        parse_cost_explorer_csv(bill.read_text()),
        {m: f["cost_usd"] for m, f in document["models"].items() if f["cost_usd"]},
        sum(f["cost_usd"] for f in document["models"].values()),
    )
    (day,) = document["bill"]
    assert day["day"] == DAY
    for drift in expected.drifts:
        assert day["drifts"][drift.family]["percent"] == pytest.approx(drift.percent, rel=1e-6)
    assert day["outside_meter_usd"] == {"batch inference": pytest.approx(0.1)}
    # and each application has its estimates, labelled so
    savings = {row["application"]: row for row in document["savings"]}
    assert all(row["estimate"] for row in savings.values())
    assert savings["support-bot"]["cheaper_routes"] == ["chat"]
    assert 0 < savings["support-bot"]["cheaper_variant_usd"] < savings["support-bot"]["spend_usd"]
    assert savings["batch-etl"]["batch_saving_usd"] == pytest.approx(
        savings["batch-etl"]["spend_usd"] / 2, rel=1e-4
    )
    assert savings["support-bot"]["batch_saving_usd"] is None


def test_report_costs_are_the_meters(capsys: pytest.CaptureFixture[str]) -> None:
    # The report meters with the function's own code: its per-model cost is the sum of the
    # per-(application, model) sums the savings estimates start from.
    report = build_report([DEMO])
    by_model: dict[str, float] = {}
    for (_, model), figures in report.aggregator.usage.items():
        by_model[model] = by_model.get(model, 0.0) + figures.sums["CostUSD"]
    for model, figures in report.aggregator.models.items():
        assert by_model[model] == pytest.approx(figures.sums["CostUSD"], abs=1e-9)


def test_a_bad_bill_export_is_one_line_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bill = tmp_path / "bill.csv"
    bill.write_text("Usage type,A($)\nyesterday,1\n")
    assert main(["report", DEMO, "--quiet", "--bill", str(bill)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "yesterday" in err
