"""`bedrock-watch cost`: what running this stack would cost a fleet per month (sandbox.fleet_cost)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

FLEET_NAMES = ("small", "reference", "large")


def register(commands: Any) -> None:
    cost = commands.add_parser(
        "cost",
        help="estimate this stack's own monthly AWS bill for a fleet (metrics, alarms, logs, Lambda, …)",
        description="Count what template.yaml deploys (alarms, dashboards, log widgets, schedules, state "
        "machines), which metrics the contract publishes at --metric-detail, and how the meter treats a "
        "fleet's traffic; price it at AWS list prices (us-east-1, before the free tier). Without a custom "
        "fleet, prints the three reference fleets.",
    )
    cost.add_argument("--fleet", choices=FLEET_NAMES, action="append", help="a shipped fleet (repeatable)")
    cost.add_argument("--models", type=int, help="custom fleet: models called")
    cost.add_argument("--applications", type=int, help="custom fleet: calling applications")
    cost.add_argument("--pairs", type=int, help="custom fleet: active (model, application) pairs")
    cost.add_argument("--requests-per-day", type=float, help="custom fleet: Bedrock calls a day")
    cost.add_argument("--budgeted-applications", type=int, default=0, help="entries of ApplicationBudgets")
    cost.add_argument(
        "--metric-detail",
        choices=("lean", "model", "full"),
        action="append",
        help="MetricDetail to price (repeatable; default: the template's default)",
    )
    cost.add_argument(
        "--delivery-seconds",
        type=float,
        default=5.0,
        help="assumed seconds between subscription deliveries (default: %(default)s)",
    )
    cost.add_argument("--json", action="store_true", help="print the bills as JSON")
    cost.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sandbox import fleet_cost

    custom = [args.models, args.applications, args.pairs, args.requests_per_day]
    try:
        if any(v is not None for v in custom):
            if any(v is None for v in custom):
                raise ValueError(
                    "a custom fleet needs --models, --applications, --pairs and --requests-per-day"
                )
            fleets = [
                fleet_cost.Fleet(
                    "custom", args.models, args.applications, args.pairs, args.requests_per_day,
                    args.budgeted_applications,
                )
            ]  # fmt: skip
        else:
            chosen = args.fleet or list(FLEET_NAMES)
            fleets = [f for f in fleet_cost.FLEETS if f.name in chosen]
        if args.delivery_seconds <= 0:
            raise ValueError(f"--delivery-seconds must be above 0, got {args.delivery_seconds}")
    except ValueError as err:
        sys.stderr.write(f"bedrock-watch cost: {err}\n")
        return 2
    assumptions = fleet_cost.Assumptions(delivery_seconds=args.delivery_seconds)
    levels = args.metric_detail or [None]
    out = sys.stdout
    every: list[fleet_cost.Estimate] = []
    for level in levels:
        overrides = {"MetricDetail": level} if level else {}
        estimates = [fleet_cost.estimate(f, overrides, assumptions) for f in fleets]
        every += estimates
        if not args.json:
            out.write(f"MetricDetail={estimates[0].level}\n\n{fleet_cost.table(estimates)}\n\n")
    if args.json:
        out.write(json.dumps([fleet_cost.as_dict(e) for e in every], indent=2) + "\n")
    else:
        out.write(fleet_cost.assumptions_text(assumptions) + "\n")
    return 0
