"""Rewrite README's "What it costs to run" table with what the cost model prints now.

    .venv/bin/python scripts/update_readme_cost_table.py

tests/infra/test_cost.py fails while the README shows another table (a metric, alarm or
function added since changes the bill).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "core"), str(ROOT)]

from sandbox import fleet_cost  # noqa: E402


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    head, section = text.split("### What it costs to run", 1)
    table = re.compile(r"^\|  \| \*\*small\*\*.*?\n(?=\n)", re.S | re.M)
    if not table.search(section):
        raise SystemExit("README has no cost table under 'What it costs to run'")
    section = table.sub(fleet_cost.table(fleet_cost.estimates()) + "\n", section, count=1)
    readme.write_text(head + "### What it costs to run" + section)


if __name__ == "__main__":
    main()
