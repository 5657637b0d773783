"""`bedrock-watch <command>`: one named CLI with `--help` on every command (CONVENTIONS 14).

Each command is a module of this package with `register(subparsers)` (adds its parser and sets
`run`, a function of the parsed arguments returning the exit code). Errors a user can fix are
one line on stderr naming the file or field, with a non-zero exit; never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bedrock_watch_cli import check, cost, drill, report

# In the order `--help` lists them.
COMMANDS = (report, drill, cost, check)


def parser() -> argparse.ArgumentParser:
    """The argument parser of `bedrock-watch` with every command registered."""
    top = argparse.ArgumentParser(
        prog="bedrock-watch",
        description="Meter, alert on, escalate and remediate Amazon Bedrock traffic: the commands you run "
        "next to the deployed stack. The stack itself is template.yaml (`make deploy`).",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        sys.stderr.write("bedrock-watch: interrupted\n")
        return 130
    return code
