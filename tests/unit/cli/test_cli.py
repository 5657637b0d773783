"""`bedrock-watch`: one named CLI, `--help` on every command, one-line errors (CONVENTIONS 14)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bedrock_watch_cli.main import COMMANDS, main, parser
from sandbox.template import ROOT


def _command_names() -> list[str]:
    top = parser()
    sub = next(a for a in top._actions if a.dest == "command")
    return sorted(sub.choices)  # type: ignore[arg-type]


def test_the_console_script_is_declared_and_points_at_main() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"] == {"bedrock-watch": "bedrock_watch_cli.main:main"}


def test_every_command_module_registers_a_command_with_a_runner() -> None:
    names = _command_names()
    assert len(names) == len(COMMANDS)
    assert {"report", "drill"} <= set(names)
    for name in names:
        args = parser().parse_known_args([name, "--scenario", "x"] if name == "drill" else [name, "f"])[0]
        assert callable(args.run), name


@pytest.mark.parametrize("command", [[], *[[name] for name in _command_names()]])
def test_help_on_every_command(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: bedrock-watch {' '.join(command)}".rstrip())


def test_a_missing_file_is_one_line_naming_it_and_a_non_zero_exit(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "bedrock_watch_cli", "report", "--quiet", str(missing)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert str(missing) in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unknown_scenario_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drill", "--scenario", "no-such-scenario"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bedrock-watch drill: scenario error:")
    assert "no-such-scenario" in err
