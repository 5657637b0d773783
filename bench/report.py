"""`make bench`: `python -m sandbox report` on a generated 1M-line S3 export (not a test).

Prints lines/s and the peak resident set (VmHWM) of the fresh interpreter that ran the report,
next to a 50k-line run over the same time span: bounded memory means the two peaks are close.

The lines are S3-export records (one JSON record per line, gzip, the AWSLogs/…/yyyy/mm/dd/hh/
folder layout): a base of sandbox/traffic.py records (bodies 1-8 KB, eight models, six
applications, 3 % errors), repeated with fresh request ids and timestamps spread evenly over
`span_hours` — cheap to make, and every line is a distinct request the metering code parses in full.

    .venv/bin/python bench/report.py [--lines N] [--span-hours H] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "core"), str(ROOT)]  # a script, not a test: the layer as Lambda sees it

from sandbox.traffic import TrafficProfile, generate_records  # noqa: E402

BASE_RECORDS = 2000
ACCOUNT = "111122223333"
REGION = "us-east-1"


def _iso(ms: int) -> bytes:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ").encode()


def write_s3_export(folder: Path, lines: int, *, span_hours: float = 2.0, seed: int = 7) -> int:
    """Write `lines` invocation records as an S3 export under `folder`; returns bytes written."""
    pairs = generate_records(TrafficProfile(seed=seed, requests=BASE_RECORDS, duration_s=600.0))
    base = []
    for timestamp, record in pairs:
        message = json.dumps(record, separators=(",", ":")).encode()
        base.append((timestamp, record["requestId"].encode(), record["timestamp"].encode(), message))
    copies = -(-lines // len(base))
    stride_ms = int(span_hours * 3600 * 1000 / max(copies, 1))
    written = 0
    hour_files: dict[str, Any] = {}
    compressors: dict[str, Any] = {}
    try:
        produced = 0
        for copy in range(copies):
            shift = copy * stride_ms
            for timestamp, request_id, iso, message in base:
                if produced >= lines:
                    break
                when = timestamp + shift
                line = message.replace(
                    b'"requestId":"' + request_id, b'"requestId":"' + request_id + b"-%d" % copy, 1
                ).replace(b'"timestamp":"' + iso, b'"timestamp":"' + _iso(when), 1)
                hour = datetime.fromtimestamp(when / 1000, UTC).strftime("%Y/%m/%d/%H")
                out = hour_files.get(hour)
                if out is None:
                    path = folder / "AWSLogs" / ACCOUNT / "BedrockModelInvocationLogs" / REGION / hour
                    path.mkdir(parents=True, exist_ok=True)
                    out = hour_files[hour] = (path / f"{ACCOUNT}_invocations_{copy}.json.gz").open("wb")
                    compressors[hour] = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
                chunk = compressors[hour].compress(line + b"\n")
                written += len(chunk)
                out.write(chunk)
                produced += 1
    finally:
        for hour, out in hour_files.items():
            tail = compressors[hour].flush()
            written += len(tail)
            out.write(tail)
            out.close()
    return written


_RUN = """
import json, sys, time
sys.path[:0] = [{layer!r}, {root!r}]
from sandbox.report import build_report
started = time.perf_counter()
report = build_report([{folder!r}])
seconds = time.perf_counter() - started
document = report.as_dict()
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({{"lines": report.lines, "records": document["records"], "seconds": seconds,
                  "peak_kib": peak, "fired": len(document["backtest"]["fired"])}}))
"""


def run_report(folder: Path) -> dict[str, Any]:
    """Run the report on `folder` in a fresh interpreter: lines, seconds, peak_kib (VmHWM)."""
    code = _RUN.format(layer=str(ROOT / "layers" / "core"), root=str(ROOT), folder=str(folder))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--span-hours", type=float, default=24.0)
    parser.add_argument("--keep", type=Path, help="write the export here and keep it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        root = args.keep or Path(tmp)
        small, large = root / "small", root / "large"
        started = time.perf_counter()
        size = write_s3_export(large, args.lines, span_hours=args.span_hours)
        write_s3_export(small, max(args.lines // 20, 1), span_hours=args.span_hours)
        print(
            f"generated {args.lines:,} lines over {args.span_hours:g} h "
            f"({size / 1e6:,.0f} MB gzip) in {time.perf_counter() - started:.0f} s"
        )
        few = run_report(small)
        many = run_report(large)
    for label, run in (("report, 1/20 of the lines", few), ("report, all lines", many)):
        print(
            f"{label:<28} {run['lines']:>10,} lines  {run['lines'] / run['seconds']:>8,.0f} lines/s  "
            f"peak {run['peak_kib'] / 1024:6.1f} MB (VmHWM)  {run['fired']} alarm episodes"
        )
    print(
        f"peak memory ratio all/(1/20): {many['peak_kib'] / few['peak_kib']:.2f} "
        "(bounded memory: close to 1 although the lines grow 20x)"
    )


if __name__ == "__main__":
    main()
