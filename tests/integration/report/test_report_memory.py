"""`report` streams: its peak memory does not grow with the number of lines.

Not a timed test (speed is bench/report.py's job): it compares the peak resident set (VmHWM) of
two fresh interpreters reporting on 5,000 and 50,000 lines over the same two hours of traffic.
Were lines kept (bodies of 1-8 KB), the larger run would need hundreds of MB more.
"""

from __future__ import annotations

from pathlib import Path

from bench.report import run_report, write_s3_export

SPAN_HOURS = 2.0


def test_peak_memory_does_not_grow_with_the_number_of_lines(tmp_path: Path) -> None:
    # Given two S3 exports over the same two hours, one ten times longer than the other
    write_s3_export(tmp_path / "few", 5_000, span_hours=SPAN_HOURS)
    size = write_s3_export(tmp_path / "many", 50_000, span_hours=SPAN_HOURS)
    assert size > 20_000_000  # the compressed export alone is bigger than the headroom allowed below
    # When each is reported in a fresh interpreter
    few = run_report(tmp_path / "few")
    many = run_report(tmp_path / "many")
    # Then every line was read, and the peak grew by far less than the data did
    assert few["lines"] == 5_000
    assert many["lines"] == 50_000
    assert many["records"] == 50_000
    growth_mib = (many["peak_kib"] - few["peak_kib"]) / 1024
    assert growth_mib < 15, f"peak grew by {growth_mib:.1f} MiB from 5k to 50k lines"
