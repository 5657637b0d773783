"""`python -m sandbox replay` on the shipped sample logs: the table the README shows is the table
the replay prints, and the sample is what its generator script makes."""

from __future__ import annotations

import gzip
import io
import re

import pytest

from sandbox.__main__ import main
from sandbox.replay import DEMO_LOGS, replay_demo
from sandbox.template import ROOT
from scripts.make_demo_invocations import demo_lines

pytestmark = pytest.mark.integration


def readme_demo_table() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("<!-- section: metering -->", 1)[1].split("<!-- section:", 1)[0]
    block = re.search(r"prints this table.*?```\n(.*?)```", section, re.S)
    assert block, "README metering section has no demo table"
    return block.group(1).rstrip("\n").splitlines()


def test_the_replay_prints_the_per_model_table_the_readme_shows() -> None:
    # Given the shipped sample logs, when the replay sends them through the function
    out = io.StringIO()
    report = replay_demo(out)
    printed = out.getvalue().splitlines()
    # Then every line of the README's table is printed, in order
    table = readme_demo_table()
    start = printed.index(table[0])
    assert printed[start : start + len(table)] == table
    # and the figures add up: 3,000 requests over the models, one malformed line, the set-up line skipped
    assert sum(row.requests for row in report.rows[:-1]) == report.rows[-1].requests == 3000
    assert report.totals("skipped") == 1
    assert report.totals("duplicates") > 0
    assert report.store.get("BedrockWatch", "MalformedRecords").sum == 1
    assert report.rows[-1].cost_usd > 0


def test_the_sample_logs_are_what_the_committed_generator_produces() -> None:
    assert gzip.decompress(DEMO_LOGS.read_bytes()) == demo_lines()


def test_an_unknown_scenario_is_refused_with_the_shipped_ones() -> None:
    with pytest.raises(SystemExit, match=r"scenario 'storm-xyz': no such file .*\(shipped: .*default"):
        main(["drill", "--scenario", "storm-xyz"])
