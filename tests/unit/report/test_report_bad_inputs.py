"""`bedrock-watch report` on input that holds nothing: each file is read or refused by name, with a
non-zero exit; a good file beside a bad one is still reported. And what the traffic would cost."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from bedrock_watch_cli.main import main
from tests.unit.report.conftest import START, line, record, write_lines

NOT_A_LOG_EXPORT = "is a JSON document but not a log export (keys: name, version"
TRUNCATED = "gzip stream ends early (truncated) after 0 lines"


def good_file(folder: Path, name: str = "good.jsonl", count: int = 5) -> Path:
    return write_lines(folder / name, [line(record(f"{name}-{n}", START)) for n in range(count)])


def report(capsys: pytest.CaptureFixture[str], *paths: Path, json_out: bool = False) -> tuple[int, str, str]:
    code = main(["report", "--quiet", *(["--json"] if json_out else []), *map(str, paths)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.jsonl", b"", "is empty"),
        ("random.bin", os.urandom(4096).replace(b"\x1f\x8b", b"xx") + b"\x00", "is not text nor gzip"),
        ("package.json", json.dumps({"name": "x", "version": "1"}, indent=2).encode(), NOT_A_LOG_EXPORT),
        ("notes.txt", b"timestamp,model\n2026-11-26,claude\n", "holds no invocation records (2 lines"),
        ("cut.json.gz", gzip.compress(b'{"schemaType": "ModelInvocationLog"' * 50)[:60], TRUNCATED),
    ],
)  # fmt: skip
def test_a_file_that_holds_nothing_is_refused_by_name_with_a_non_zero_exit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes, problem: str
) -> None:
    # Given a file that holds no invocation log
    path = tmp_path / name
    path.write_bytes(content)
    # When it is the only input
    code, out, err = report(capsys, path)
    # Then nothing is reported ("None .. None" was), one line names the file and why, exit 2
    assert code == 2
    assert out == ""
    assert err.startswith(f"report: {path}: {problem}")
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_good_file_beside_bad_ones_is_reported_and_the_bad_ones_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a good export, an empty file and a JSON document that is no log
    good = good_file(tmp_path)
    empty = tmp_path / "empty.json"
    empty.write_text("")
    other = tmp_path / "config.json"
    other.write_text('{\n  "region": "us-east-1"\n}\n')
    # When all three are given
    code, out, err = report(capsys, good, empty, other, json_out=True)
    # Then the good file's records are reported, each bad file is named (stdout and stderr), exit 1
    document = json.loads(out)
    assert document["records"] == 5
    assert {r["file"]: r["problem"] for r in document["refused_files"]} == {
        str(empty): "is empty",
        str(other): "is a JSON document but not a log export (keys: region; expected invocation records, "
        "or the events of `aws logs filter-log-events`)",
    }
    assert code == 1
    assert f"report: {empty}: is empty" in err.splitlines()


def test_a_truncated_gzip_is_read_up_to_the_cut_and_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a gzip export cut off in the middle (a failed download)
    lines = "".join(line(record(f"r{n}", START)) + "\n" for n in range(400)).encode()
    whole = gzip.compress(lines)
    path = tmp_path / "export.json.gz"
    path.write_bytes(whole[: len(whole) // 2])
    # When reported
    code, out, _ = report(capsys, path, json_out=True)
    # Then the complete lines before the cut are metered, the partial one is not, and the file is named
    document = json.loads(out)
    assert 0 < document["records"] < 400
    assert document["malformed"]["total"] == 0
    [refused] = document["refused_files"]
    assert refused["problem"].startswith(
        f"gzip stream ends early (truncated) after {document['lines']:,} lines"
    )
    assert code == 1


def test_aws_logs_filter_log_events_output_is_read_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given what `aws logs filter-log-events --log-group-name /aws/bedrock/modelinvocations` prints
    events = [
        {"logStreamName": "aws/bedrock/modelinvocations", "timestamp": 1795694400000 + n,
         "message": line(record(f"r{n}", START)), "ingestionTime": 1795694401000, "eventId": str(n)}
        for n in range(4)
    ]  # fmt: skip
    path = tmp_path / "events.json"
    path.write_text(json.dumps({"events": events, "searchedLogStreams": [], "nextToken": "x"}, indent=4))
    code, out, _ = report(capsys, path, json_out=True)
    assert code == 0
    assert json.loads(out)["records"] == 4


def test_the_report_says_what_the_traffic_would_cost_and_what_logging_costs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = good_file(tmp_path, count=50)
    code, out, _ = report(capsys, good, json_out=True)
    costs = json.loads(out)["costs"]
    assert code == 0
    lean, full = costs["bedrock_watch"]["lean"], costs["bedrock_watch"]["full"]
    assert 0 < lean["usd_per_month"] <= full["usd_per_month"]
    assert lean["distinct_custom_metrics"] <= full["distinct_custom_metrics"]
    logging = costs["invocation_logging"]
    assert logging["text_delivery_off_usd_per_month"] < logging["cloudwatch_logs_usd_per_month"]
    assert logging["s3_delivery_usd_per_month"] < logging["cloudwatch_logs_usd_per_month"]
    code, text, _ = report(capsys, good)
    assert "bedrock-watch deployed for this traffic: $" in text
    assert "with text delivery off: $" in text


def test_a_routes_file_is_read_by_the_stacks_own_parser_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a Routes document the stack would refuse (a fallback that is not a model id)
    routes = tmp_path / "routes.json"
    routes.write_text(
        json.dumps({"chat": {"primary": "anthropic.claude-sonnet-4-5-20250929-v1:0", "fallbacks": [7]}})
    )
    # When the report is asked for savings along those routes
    code = main(["report", "--quiet", "--routes", str(routes), str(good_file(tmp_path))])
    # Then it refuses, naming the file and the field, as the deployment would
    assert code != 0
    assert f"--routes {routes}: routes.chat.fallbacks[0]" in capsys.readouterr().err
