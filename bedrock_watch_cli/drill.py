"""`bedrock-watch drill`: the whole stack on an embedded AWS (moto), a live incident drill."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(commands: Any) -> None:
    drill = commands.add_parser(
        "drill",
        help="run an incident scenario through the whole stack on an embedded AWS (what `make demo` runs)",
        description="Deploy template.yaml on an embedded AWS emulator (moto), send a scenario's traffic "
        "through the real metering path, evaluate every alarm, page through the escalation workflow and "
        "remediate routes; print the timeline and write out/drill-<scenario>/report.html. No AWS account.",
    )
    drill.add_argument(
        "--scenario",
        default="default",
        help="a shipped scenario (sandbox/scenarios/NAME.yaml) or a path to your own (default: %(default)s)",
    )
    drill.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sandbox.drill import run as run_drill
    from sandbox.scenario import ScenarioError
    from sandbox.stack import StackError

    try:
        run_drill(args.scenario, sys.stdout)
    except ScenarioError as err:
        sys.stderr.write(f"bedrock-watch drill: scenario error: {err}\n")
        return 2
    except StackError as err:
        sys.stderr.write(f"bedrock-watch drill: {err}\n")
        return 1
    return 0
