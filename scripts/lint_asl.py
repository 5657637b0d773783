"""Lint Step Functions definitions with cfn-lint.

`sam validate --lint` does not read ASL files referenced by DefinitionUri (FACTS §8), so each
file is wrapped in a throwaway template with an inline Definition, every ${Placeholder}
replaced by a well-formed ARN, and cfn-lint run on it (E3601 catches a missing Next, etc.).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def _fill(text: str) -> str:
    def arn(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.endswith("Arn") or name.endswith("FunctionArn"):
            return f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        return name

    return PLACEHOLDER.sub(arn, text)


def wrap(path: Path) -> dict[str, object]:
    definition = json.loads(_fill(path.read_text()))
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": "arn:aws:iam::123456789012:role/lint",
                    "Definition": definition,
                },
            }
        },
    }


def main(paths: list[str]) -> int:
    if not paths:
        print("lint_asl: no statemachines/*.asl.json files yet")
        return 0
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for name in paths:
            path = Path(name)
            wrapped = Path(tmp) / f"{path.stem}.json"
            try:
                wrapped.write_text(json.dumps(wrap(path)))
            except json.JSONDecodeError as err:
                print(f"{path}: not valid JSON: {err}")
                failed = True
                continue
            result = subprocess.run(
                [str(Path(sys.executable).parent / "cfn-lint"), str(wrapped)],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                failed = True
                print(f"{path}:\n{result.stdout}{result.stderr}")
            else:
                print(f"{path}: ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
