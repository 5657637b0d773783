"""`bedrock-watch cost`: the three fleets' bills, a custom fleet, one-line errors."""

from __future__ import annotations

import json

import pytest

from bedrock_watch_cli.main import main


def test_a_custom_fleet_is_priced_at_each_level_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["cost", "--models", "3", "--applications", "4", "--pairs", "6", "--requests-per-day", "5000"]
    assert main([*args, "--metric-detail", "lean", "--metric-detail", "full", "--json"]) == 0
    lean, full = json.loads(capsys.readouterr().out)
    assert (lean["metric_detail"], full["metric_detail"]) == ("lean", "full")
    assert lean["fleet"]["active_pairs"] == 6
    assert lean["total_usd"] < full["total_usd"]
    assert lean["distinct_custom_metrics"] < full["distinct_custom_metrics"]


def test_the_shipped_fleets_print_the_readme_table_and_the_assumptions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["cost"]) == 0
    out = capsys.readouterr().out
    assert "| **small** | **reference** | **large** |" in out
    assert "Assumed: a subscription delivery every 5 s" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--models", "3"], "a custom fleet needs --models, --applications, --pairs and --requests-per-day"),
        (["--models", "2", "--applications", "2", "--pairs", "9", "--requests-per-day", "1"], "1..4"),
        (["--delivery-seconds", "0"], "--delivery-seconds must be above 0"),
    ],
)  # fmt: skip
def test_a_bad_fleet_is_one_line_naming_the_field(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cost", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
