"""`report` reads invocation logs however they were exported: S3 folders, gzip, CloudWatch Logs
lines with a timestamp prefix or as JSON events, and counts what it cannot use."""

from __future__ import annotations

import gzip
import io
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from sandbox.__main__ import main
from sandbox.report import Progress, ReportError, build_report, log_event, log_files
from tests.unit.report.conftest import START, line, record, write_lines


def test_an_s3_export_folder_is_read_recursively_gzip_or_not(tmp_path: Path) -> None:
    # Given the S3 layout AWSLogs/<acct>/BedrockModelInvocationLogs/<region>/yyyy/mm/dd/hh/*.json.gz
    hour = tmp_path / "AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1/2026/11/26/12"
    write_lines(hour / "a.json.gz", [line(record("r1", START)), line(record("r2", START))], gzipped=True)
    write_lines(hour / "b.json", [line(record("r3", START + timedelta(minutes=1)))])
    (hour / "README.md").write_text("not a log")
    # When the report is given the top folder
    report = build_report([tmp_path])
    # Then every record in every log file is counted, and other files are ignored
    document = report.as_dict()
    assert document["records"] == 3
    assert document["lines"] == 3
    assert [Path(f).name for f in document["files"]] == ["a.json.gz", "b.json"]


def test_gzip_is_recognised_by_content_and_concatenated_members_are_all_read(tmp_path: Path) -> None:
    # Given a gzip file without a .gz name, made of two gzip members (as S3 objects may be)
    data = gzip.compress((line(record("r1", START)) + "\n").encode()) + gzip.compress(
        (line(record("r2", START)) + "\n").encode()
    )
    path = tmp_path / "export.json"
    path.write_bytes(data)
    # Then both records are metered
    assert build_report([path]).as_dict()["records"] == 2


def test_cloudwatch_export_lines_have_their_timestamp_prefix_stripped_and_used(tmp_path: Path) -> None:
    # Given CloudWatch Logs export lines: "<ISO timestamp> <record>", the record dated 12:00
    doc = record("r1", START)
    path = write_lines(tmp_path / "cw.log", [f"2026-11-26T12:07:30.123Z {line(doc)}"])
    # When reported
    document = build_report([path]).as_dict()
    # Then the record is metered in the prefix's minute (the log event's time)
    assert document["records"] == 1
    assert document["span"]["first_minute"] == "2026-11-26T12:07:00Z"


def test_json_log_events_are_unwrapped() -> None:
    message = line(record("r1", START))
    event = json.dumps({"timestamp": 1795694460000, "message": message}).encode()
    assert log_event(event) == (1795694460000, message)


def test_a_bare_record_is_dated_by_its_own_timestamp() -> None:
    raw = line(record("r1", START + timedelta(seconds=5))).encode()
    assert log_event(raw) == (int((START + timedelta(seconds=5)).timestamp() * 1000), raw)


def test_bad_lines_are_counted_by_reason_and_never_stop_the_report(tmp_path: Path) -> None:
    # Given good records mixed with garbage, a truncated record, an undated record and blank lines
    good = [line(record(f"r{n}", START)) for n in range(3)]
    undated = record("r9", START)
    del undated["timestamp"]
    path = write_lines(
        tmp_path / "mixed.jsonl",
        [good[0], "not json at all", good[1][:120], "", '{"schemaType": "Other"}', line(undated), good[2]],
    )
    # When reported
    document = build_report([path]).as_dict()
    # Then the two whole records are metered and every bad line is counted with its reason
    assert document["records"] == 2
    assert document["malformed"]["reasons"] == {
        "not JSON": 1,
        "truncated JSON": 1,
        "not an invocation record (schemaType)": 1,
        "record without a timestamp": 1,
    }
    assert document["malformed"]["total"] == 4
    assert document["lines"] == 6  # blank lines are not lines of the log


def test_a_missing_path_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"nope\.json\.gz: no such file or folder"):
        log_files([tmp_path / "nope.json.gz"])


def test_progress_goes_to_the_given_stream_rate_limited_and_ends_with_a_newline() -> None:
    # Given a progress line with a long redraw interval
    stream = io.StringIO()
    progress = Progress(total_bytes=1000, stream=stream, interval=3600)
    # When many updates arrive within the interval and then the final one
    progress.update(10, 100)
    progress.update(20, 200)
    progress.update(30, 1000, final=True)
    # Then the first is drawn, the second is skipped, the last is drawn and ends the line
    text = stream.getvalue()
    assert text.count("\r") == 2
    # (a count, not the tail of a rate such as "2,459,420 lines/s")
    assert re.search(r"(?<![\d,])10 lines", text)
    assert not re.search(r"(?<![\d,])20 lines", text)
    assert "100.0%" in text
    assert text.endswith("\n")


def test_no_progress_when_stderr_is_not_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_lines(tmp_path / "a.jsonl", [line(record("r1", START))])
    assert main(["report", str(path), "--json"]) == 0
    assert capsys.readouterr().err == ""


def test_aws_logs_cli_output_is_read_event_by_event(tmp_path: Path) -> None:
    # Given the JSON `aws logs filter-log-events` prints (pretty, one document)
    events = [{"timestamp": 1795694400000 + n, "message": line(record(f"r{n}", START))} for n in range(3)]
    path = tmp_path / "filter-log-events.json"
    path.write_text(json.dumps({"events": events, "searchedLogStreams": []}, indent=2))
    # Then each event is one line of the log
    document = build_report([path]).as_dict()
    assert document["records"] == 3
    assert document["lines"] == 3


def test_undated_garbage_first_and_a_stray_date_years_away_do_not_stretch_the_work(tmp_path: Path) -> None:
    # Given garbage before any dated line, and one record dated 30 years later than the rest
    stray = record("stray", START.replace(year=2056))
    lines = ["garbage first", *(line(record(f"r{n}", START + timedelta(minutes=n))) for n in range(5))]
    path = write_lines(tmp_path / "odd.jsonl", [*lines, line(stray)])
    # When reported (the backtest steps only where data is: this returns promptly)
    document = build_report([path]).as_dict()
    # Then the garbage is counted without a minute, and both stretches of data are metered
    assert document["malformed"]["reasons"] == {"not JSON": 1}
    assert document["records"] == 6
    assert document["span"]["first_minute"] == "2026-11-26T12:00:00Z"
    assert document["span"]["last_minute"] == "2056-11-26T12:00:00Z"
