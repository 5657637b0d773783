"""The template's foundation: what every function inherits, and the ASL linter that guards statemachines/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sandbox.template import ROOT, load_template, resources


def test_globals_give_every_function_python313_arm64_and_the_core_layer() -> None:
    fn_globals = load_template()["Globals"]["Function"]
    assert fn_globals["Runtime"] == "python3.13"
    assert fn_globals["Architectures"] == ["arm64"]
    assert {"Ref": "CoreLayer"} in fn_globals["Layers"]


def test_every_function_logs_to_its_own_log_group_created_before_it() -> None:
    functions = resources(type_="AWS::Serverless::Function")
    log_groups = resources(type_="AWS::Logs::LogGroup")
    for name, fn in functions.items():
        ref = fn["Properties"].get("LoggingConfig", {}).get("LogGroup")
        assert isinstance(ref, dict), f"{name} has no LoggingConfig.LogGroup"
        assert ref.keys() == {"Ref"}, f"{name}: LoggingConfig.LogGroup must be a Ref to its log group"
        group = log_groups.get(ref["Ref"])
        assert group is not None, f"{name} logs to {ref['Ref']}, which is not a log group of the template"
        assert group["Properties"].get("RetentionInDays") == {"Ref": "LogRetentionDays"}
        # A name derived from the function would make the group wait for it (FACTS §9).
        assert name not in json.dumps(group), f"{ref['Ref']} depends on {name}"


def _lint(tmp_path: Path, definition: dict[str, object]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "machine.asl.json"
    path.write_text(json.dumps(definition))
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lint_asl.py"), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_asl_lint_fails_on_a_state_without_next(tmp_path: Path) -> None:
    result = _lint(tmp_path, {"StartAt": "A", "States": {"A": {"Type": "Pass"}}})
    assert result.returncode == 1, result.stdout
    assert "E3601" in result.stdout


def test_asl_lint_accepts_a_valid_machine(tmp_path: Path) -> None:
    result = _lint(tmp_path, {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    assert result.returncode == 0, result.stdout
