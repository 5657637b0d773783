"""`bedrock-watch check`: what a deployment would refuse, found offline, one line per problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bedrock_watch_cli.main import main
from sandbox.parameters import OverridesError, constraint_problems, parse_overrides
from sandbox.template import ROOT, load_template

TIER = {"name": "devops", "after_seconds": 0, "channels": ["sns"]}
TYPO_POLICY = json.dumps(
    {
        "critical": {
            "tiers": [TIER, {"name": "seniors", "after_seconds": 900, "channels": ["slak"]}],
            "final_ack_timeout_seconds": 60,
        },
        "warning": {"tiers": [TIER], "final_ack_timeout_seconds": 60},
    }
)
TYPO_LINE = (
    "EscalationPolicy: critical.tiers[1].channels[0]: unknown channel type 'slak' "
    "(expected one of ['jsm', 'pagerduty', 'servicenow', 'slack', 'sns'])"
)


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_the_shipped_samconfig_environments_would_deploy(capsys: pytest.CaptureFixture[str]) -> None:
    for env in ("default", "prod"):
        code, out, _ = check(capsys, "--config-file", str(ROOT / "samconfig.toml"), "--config-env", env)
        assert code == 0, out
        assert out[-1].startswith(f"ok: {ROOT / 'samconfig.toml'} [{env}]")


def test_a_samconfig_environment_with_a_policy_typo_is_refused_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a prod environment whose overrides carry a quoted JSON policy with a typo (TOML string)
    config = tmp_path / "samconfig.toml"
    overrides = f"LogRetentionDays=90 EscalationPolicy={json.dumps(TYPO_POLICY)}"
    config.write_text(
        f"version = 0.1\n[prod.deploy.parameters]\nparameter_overrides = {json.dumps(overrides)}\n"
    )
    # When it is checked
    code, out, err = check(capsys, "--config-file", str(config), "--config-env", "prod")
    # Then exactly that problem is printed, and the exit status says the deployment would fail
    assert code == 1
    assert out == [TYPO_LINE]
    assert "1 problem(s)" in err


def test_each_kind_of_bad_value_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a sam --parameter-overrides style file (Key=Value pairs, several per line, comments)
    params = tmp_path / "prod.params"
    params.write_text(
        "# prod\n"
        f"EscalationPolicy='{TYPO_POLICY}'\n"
        "MonitoredModels=us.anthropic.claude-sonnet-4-5-20250929-v1:0=summarise=1000 LogRetentionDays=31\n"
        "MonthlyBudgetUSD=0 Typo=1\n"
    )
    code, out, _ = check(capsys, "--parameters", str(params))
    assert code == 1
    assert sorted(out) == sorted(
        [
            "Typo: not a parameter of the template (CloudFormation refuses unknown parameters)",
            "LogRetentionDays: 31 is not one of [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, "
            "545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]",
            "MonthlyBudgetUSD: 0 is below the minimum 0.01",
            "MonitoredModels[0]: route 'summarise' is not declared in Routes (declared: chat); "
            "its failover would fail",
            TYPO_LINE,
        ]
    )


def test_a_cloudformation_json_parameter_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = tmp_path / "params.json"
    params.write_text(
        json.dumps(
            [
                {"ParameterKey": "ApplicationBudgets", "ParameterValue": '{"support-bot": 0}'},
                {"ParameterKey": "MetricsNamespace", "ParameterValue": "Team/Bedrock"},
            ]
        )
    )
    code, out, _ = check(capsys, "--parameters", str(params))
    assert (code, out) == (1, ["ApplicationBudgets['support-bot'] must be a positive number of USD, got 0"])
    params.write_text(json.dumps([{"ParameterKey": "MetricsNamespace", "ParameterValue": "Team/Bedrock"}]))
    code, out, _ = check(capsys, "--parameters", str(params))
    assert code == 0
    assert out[0].startswith(f"ok: {params}: 1 parameter(s) set")


def test_a_value_cloudformation_refuses_is_reported_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = tmp_path / "p.txt"
    params.write_text("MonitoredModels=no-route-here\n")
    code, out, _ = check(capsys, "--parameters", str(params))
    assert code == 1
    assert len(out) == 1
    assert out[0].startswith(
        "MonitoredModels[0]: 'no-route-here' each entry must be "
        "<ModelId (at most 93 characters)>=<route>=<TPM quota>"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config-env", "staging"], "no environment [staging] (environments: default, prod)"),
        (["--parameters", "/nonexistent/p.json"], "/nonexistent/p.json: no such file"),
    ],
)
def test_unreadable_input_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = check(capsys, "--config-file", str(ROOT / "samconfig.toml"), *args)
    assert code == 2
    assert out == []
    assert message in err
    assert len(err.strip().splitlines()) == 1


SAMPLES = [
    "InvocationLogGroupName=/aws/bedrock/modelinvocations LogRetentionDays=90",
    'EscalationPolicy="{\\"critical\\": {\\"tiers\\": []}}" MetricsNamespace=Team/Bedrock',
    'Routes=\'{"chat": {"primary": "a b"}}\' BudgetDowngradeRoute=chat',
    "ParameterKey=A,ParameterValue=1 ParameterKey=B,ParameterValue='x y'",
    r"Name=with\ space Other=1",
    ["A=1 B=2", "C='three four'"],
]


@pytest.mark.parametrize("value", SAMPLES)
def test_overrides_are_read_as_sam_reads_them(value: str | list[str]) -> None:
    from samcli.cli.types import CfnParameterOverridesType

    assert parse_overrides(value) == CfnParameterOverridesType().convert(value, None, None)


def test_text_sam_refuses_is_refused() -> None:
    with pytest.raises(OverridesError, match="is not Key=Value pairs"):
        parse_overrides("just words")
    with pytest.raises(OverridesError, match="file:// references"):
        parse_overrides("file://params.yaml")


def test_constraints_apply_to_each_entry_of_a_list_parameter() -> None:
    problems = constraint_problems(
        load_template(), {"MonitoredModels": "us.amazon.nova-pro-v1:0=chat=1,bad entry"}
    )
    assert problems == [
        "MonitoredModels[1]: 'bad entry' each entry must be "
        "<ModelId (at most 93 characters)>=<route>=<TPM quota>, e.g. "
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0=chat=2000000"
    ]
    assert constraint_problems(load_template(), {}) == []
