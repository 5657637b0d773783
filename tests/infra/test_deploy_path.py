"""The deploy path a newcomer meets: parameters in named, labelled groups with the ones to set
first at the top (what `sam deploy --guided` asks first), samconfig answers for every prompt SAM
lets it answer, and `make deploy` going to the caller's own region, not the offline tools' one."""

from __future__ import annotations

import os
import stat
import subprocess
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from sandbox.template import ROOT, load_template

README = (ROOT / "README.md").read_text()


def interface() -> dict[str, object]:
    metadata: dict[str, object] = load_template()["Metadata"]["AWS::CloudFormation::Interface"]
    return metadata


def groups() -> list[dict[str, object]]:
    found: list[dict[str, object]] = interface()["ParameterGroups"]  # type: ignore[assignment]
    return found


def test_every_parameter_is_in_exactly_one_group_and_has_a_label() -> None:
    # A parameter added later without a group or a label fails here: put it in its section's group.
    parameters = list(load_template()["Parameters"])
    grouped = Counter(p for g in groups() for p in g["Parameters"])  # type: ignore[attr-defined]
    assert [p for p in parameters if grouped[p] != 1] == [], "each parameter must be in exactly one group"
    assert set(grouped) <= set(parameters), "a group names a parameter the template does not declare"
    labels: dict[str, dict[str, str]] = interface()["ParameterLabels"]  # type: ignore[assignment]
    assert [p for p in parameters if not (labels.get(p) or {}).get("default")] == []
    assert set(labels) <= set(parameters)
    assert all(g["Label"]["default"] for g in groups())  # type: ignore[index]


def test_the_parameters_to_set_first_are_asked_first_and_named_in_the_readme() -> None:
    first: list[str] = groups()[0]["Parameters"]  # type: ignore[assignment]
    # `sam deploy --guided` asks in the order of the Parameters section
    assert list(load_template()["Parameters"])[: len(first)] == first
    assert len(first) == 5
    deploy = README.split("## Deploy", 1)[1].split("\n## ", 1)[0]
    assert all(f"`{name}`" in deploy for name in first)


def test_samconfig_answers_what_sam_lets_it_and_pins_no_region() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for env in ("default", "prod"):
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["capabilities"] == "CAPABILITY_IAM CAPABILITY_AUTO_EXPAND"
        assert deploy["resolve_s3"] is True
        assert deploy["disable_rollback"] is False
        assert "region" not in deploy
        assert "region" not in config[env].get("global", {}).get("parameters", {})
        assert "profile" not in deploy
    # the prompt SAM cannot be told the answer to is explained where the answers are
    text = (ROOT / "samconfig.toml").read_text()
    assert "Function Url has no authentication. Is this okay?" in text


@pytest.fixture
def fake_sam(tmp_path: Path) -> Path:
    """A `sam` that records its arguments and the AWS region variables it was run with."""
    script = tmp_path / "sam"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$* | AWS_DEFAULT_REGION=${{AWS_DEFAULT_REGION:-unset}} AWS_REGION=${{AWS_REGION:-unset}}" '
        f'>> "{tmp_path}/calls"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def _make_deploy(
    fake_sam: Path, *extra: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_REGION", "AWS_DEFAULT_REGION"))}
    environ.update(AWS_CONFIG_FILE=str(fake_sam.parent / "no-config"), **env)
    result = subprocess.run(
        ["make", "--no-print-directory", "deploy", f"SAM={fake_sam}", *extra],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    calls = fake_sam.parent / "calls"
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_make_deploy_goes_to_the_callers_region_with_the_checked_configuration(fake_sam: Path) -> None:
    # Given a caller whose region is eu-west-2 (no AWS_DEFAULT_REGION)
    result, calls = _make_deploy(fake_sam, "ENV=prod", AWS_REGION="eu-west-2")
    assert result.returncode == 0, result.stderr
    # Then the configuration was checked, the target said, and sam deploy ran with the caller's region
    assert "ok: samconfig.toml [prod]" in result.stdout
    assert "deploying to region eu-west-2" in result.stdout
    build, deploy = calls
    assert build.startswith("build ")
    # (SAM reads AWS_DEFAULT_REGION but not AWS_REGION, so the Makefile passes it on)
    assert (
        deploy
        == "deploy --config-env prod --region eu-west-2 | AWS_DEFAULT_REGION=unset AWS_REGION=eu-west-2"
    )


def test_a_default_region_of_the_caller_is_kept_as_it_is(fake_sam: Path) -> None:
    # Given only AWS_DEFAULT_REGION (the offline targets' us-east-1 must not replace it)
    result, calls = _make_deploy(fake_sam, AWS_DEFAULT_REGION="eu-central-1")
    assert result.returncode == 0, result.stderr
    assert "deploying to region eu-central-1" in result.stdout
    assert calls[-1] == "deploy --config-env default | AWS_DEFAULT_REGION=eu-central-1 AWS_REGION=unset"


def test_region_and_profile_can_be_given_and_guided_asked_for(fake_sam: Path) -> None:
    result, calls = _make_deploy(fake_sam, "REGION=ap-south-1", "GUIDED=1", AWS_REGION="eu-west-2")
    assert result.returncode == 0, result.stderr
    assert "deploying to region ap-south-1" in result.stdout
    assert calls[-1].startswith("deploy --config-env default --guided --region ap-south-1 |")


def test_without_a_region_make_deploy_stops_before_sam_deploy(fake_sam: Path) -> None:
    result, calls = _make_deploy(fake_sam)
    assert result.returncode != 0
    assert "make deploy: no AWS region" in result.stderr
    assert [c for c in calls if c.startswith("deploy")] == []
