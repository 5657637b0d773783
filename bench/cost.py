"""`make bench`: this stack's own monthly bill and distinct custom metrics for three fleet sizes (not a test).

The cost model (bedrock_watch.costmodel, sandbox.fleet_cost) counts template.yaml and the metric
contract and measures the meter on generated traffic; this prints its figures at the default
MetricDetail next to `full` (every figure per model, application and pair, as before the lean
contract), and checks the reference fleet's targets: at most 200 metrics and $100 a month.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "core"), str(ROOT)]  # a script, not a test: the layer as Lambda sees it

from sandbox import fleet_cost  # noqa: E402

TARGET_METRICS = 200
TARGET_USD = 100.0


def main() -> None:
    default = fleet_cost.estimates()
    full = fleet_cost.estimates(("full",))
    print(f"own monthly cost (MetricDetail={default[0].level}, the default)\n")
    print(fleet_cost.table(default))
    print("\nfor contrast, MetricDetail=full (every metering figure per model, application and pair):\n")
    for e in full:
        metrics, usd = e.distinct_metrics, e.bill.total
        print(f"  {e.fleet.name:<10} {metrics:>9,.0f} distinct custom metrics  ${usd:>10,.2f}/month")
    reference = next(e for e in default if e.fleet.name == "reference")
    ok = reference.distinct_metrics <= TARGET_METRICS and reference.bill.total <= TARGET_USD
    print(
        f"\nreference fleet: {reference.distinct_metrics:,.0f} metrics (target <= {TARGET_METRICS}), "
        f"${reference.bill.total:,.2f}/month (target <= ${TARGET_USD:,.0f}): {'met' if ok else 'MISSED'}"
    )
    print("\n" + fleet_cost.assumptions_text(reference.assumptions))


if __name__ == "__main__":
    main()
