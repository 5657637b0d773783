"""`bedrock-watch report`: meter exported invocation logs and backtest the template's alarms."""

from __future__ import annotations

from typing import Any


def register(commands: Any) -> None:
    from sandbox.report_cli import add_report_command, run_report

    add_report_command(commands)
    commands.choices["report"].set_defaults(run=run_report)
