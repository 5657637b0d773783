"""`python -m sandbox <command>`: the stack on an embedded AWS (moto), no account needed.

Users run `bedrock-watch` (bedrock_watch_cli); this entry point is the emulator's own, for the
tests and for working on the sandbox. Commands:
`drill --scenario NAME|PATH` (what `make demo` runs: a live incident drill);
`report FILES…` (meter real invocation logs and backtest the template's alarms on them);
`replay` (the metering function alone on the shipped sample logs, per-model table).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sandbox.template import ROOT

# Lambda puts a layer's content on the import path (/opt/python); the sandbox does the same for
# the core layer so handlers import bedrock_watch exactly as they do when deployed.
_LAYER = str(ROOT / "layers" / "core")
if _LAYER not in sys.path:
    sys.path.insert(0, _LAYER)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    drill = commands.add_parser("drill", help="run a scenario through the whole stack, live")
    drill.add_argument(
        "--scenario",
        default="default",
        help="a shipped scenario (sandbox/scenarios/NAME.yaml) or a path to your own (default: %(default)s)",
    )
    from sandbox.report_cli import add_report_command

    add_report_command(commands)
    commands.add_parser("replay", help="the metering function alone on the shipped sample logs")
    args = parser.parse_args(argv)

    if args.command == "drill":
        from sandbox.drill import run
        from sandbox.scenario import ScenarioError

        try:
            run(args.scenario, sys.stdout)
        except ScenarioError as err:
            raise SystemExit(f"scenario error: {err}") from None
    elif args.command == "report":
        from sandbox.report_cli import run_report

        return run_report(args)
    elif args.command == "replay":
        from sandbox.replay import replay_demo

        replay_demo(sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
