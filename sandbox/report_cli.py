"""The `report` subcommand's arguments and output (kept here so sandbox/__main__.py only registers it)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import IO, Any

import orjson

from bedrock_watch.errors import ConfigurationError
from sandbox.report import (
    Report,
    ReportError,
    bill_drift,
    build_report,
    render_text,
    routes_option,
    savings,
    settings_for,
)


def add_report_command(commands: Any) -> None:
    """Register `report` on the `python -m sandbox` subparsers."""
    report = commands.add_parser(
        "report",
        help="meter invocation-log files (S3 or CloudWatch Logs exports) and backtest the alarms",
        description="Meter Bedrock invocation logs exported from S3 or CloudWatch Logs (JSON lines, gzip "
        "or not, folders searched recursively) with the deployed metering code, and backtest the "
        "template's alarms on them.",
    )
    report.add_argument(
        "files", nargs="+", metavar="FILE", help="log files or folders (e.g. an S3 AWSLogs/ export)"
    )
    report.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    report.add_argument("--html", metavar="PATH", help="also write a self-contained HTML report with charts")
    report.add_argument(
        "--profile-map", metavar="FILE", help="JSON object: application inference profile ARN -> model id"
    )
    report.add_argument(
        "--price-overrides", metavar="FILE", help="JSON object of price overrides (as PriceOverrides)"
    )
    report.add_argument(
        "--max-applications",
        type=int,
        default=50,
        help="distinct applications before `other` (default: %(default)s)",
    )
    report.add_argument(
        "--bill",
        metavar="CSV",
        help="Cost Explorer CSV export (daily, grouped by usage type): print the meter's drift from it",
    )
    report.add_argument(
        "--routes", metavar="FILE", help="JSON of the Routes parameter: estimate the cheaper variants"
    )
    report.add_argument(
        "--batch-applications",
        metavar="A,B",
        default="",
        help="applications that are not interactive: estimate them at batch prices",
    )
    report.add_argument("--quiet", action="store_true", help="no progress bar on stderr")


def run_report(args: argparse.Namespace, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    """Run `report` with parsed arguments; 2 with a message on stderr when no input is usable, 1
    when the report was printed but some file could not be read (each named on stderr)."""
    # The report lists unresolved profiles itself; the resolver's per-profile warning is noise here.
    logging.getLogger("bedrock_watch.profiles").setLevel(logging.ERROR)
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        settings = settings_for(args.profile_map, args.price_overrides, args.max_applications)
        progress = None if args.quiet or not err.isatty() else err
        report = build_report(args.files, settings, progress=progress)
        routes = routes_option(args.routes)
        bill = None
        if args.bill:
            from bedrock_watch.billing import parse_cost_explorer_csv

            try:
                bill = parse_cost_explorer_csv(Path(args.bill).read_text())
            except OSError as exc:
                raise ReportError(f"--bill {args.bill}: {exc.strerror}") from None
    except (ReportError, ConfigurationError) as exc:
        err.write(f"report: {exc}\n")
        return 2
    from bedrock_watch.pricing import PriceBook

    book = PriceBook.load(settings.price_overrides)
    batch_apps = [a.strip() for a in args.batch_applications.split(",") if a.strip()]
    rows = savings(report, book, routes, batch_apps)
    checks = bill_drift(report, bill) if bill is not None else None
    document = report.as_dict()
    document["savings"] = [
        {
            "application": r.application,
            "spend_usd": round(r.spend_usd, 6),
            "cheaper_variant_usd": r.cheaper_variant_usd,
            "cheaper_variant_saving_usd": r.cheaper_variant_saving_usd,
            "cheaper_routes": list(r.cheaper_routes),
            "batch_saving_usd": r.batch_saving_usd,
            "cache_miss_usd": round(r.cache_miss_usd, 6),
            "estimate": True,
        }
        for r in rows
    ]
    if checks is not None:
        document["bill"] = [
            {
                "day": c.day.isoformat(),
                "drifts": {
                    d.family: {"metered_usd": d.metered_usd, "billed_usd": d.billed_usd, "percent": d.percent}
                    for d in c.drifts
                },
                "outside_meter_usd": c.outside_meter,
            }
            for c in checks
        ]
    try:
        _write(args, report, document, out)
    except BrokenPipeError:  # `report … | head`: the reader has all it wanted
        return 0
    for name, problem in report.refused.items():
        err.write(f"report: {name}: {problem}\n")
    return 1 if report.refused else 0


def _write(args: argparse.Namespace, report: Report, document: dict[str, Any], out: IO[str]) -> None:
    if args.json:
        out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        from sandbox.report import render_drift_document, render_savings_document

        out.write(render_text(document))
        out.write(render_savings_document(document["savings"]))
        if "bill" in document:
            out.write(render_drift_document(document["bill"]))
        rate = report.lines / report.seconds if report.seconds else 0.0
        out.write(f"\n{report.lines:,} lines in {report.seconds:.1f} s ({rate:,.0f} lines/s)\n")
    if args.html:
        from sandbox.report_html import render_report_html

        Path(args.html).write_text(render_report_html(report, document))
        if not args.json:
            out.write(f"HTML report written to {args.html}\n")
