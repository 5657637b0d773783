"""Unmetered traffic per model, as an investigation reads it: AWS/Bedrock's Invocations per ModelId
(named as invoked: `us.anthropic…`) normalised with the meter's own parser and set against the
meter's Requests minus Throttles per base ModelId; plus what AWS/BedrockMantle counted."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from bedrock_watch.contract import AWS_BEDROCK_NAMESPACE, DIMENSION_MODEL
from bedrock_watch.records import parse_model_id
from sandbox.metrics import MetricKey, MetricStore

MANTLE_NAMESPACE = "AWS/BedrockMantle"


def unmetered_by_model(
    store: MetricStore, namespace: str, start: datetime, end: datetime
) -> tuple[list[tuple[str, float]], float]:
    """([(base model id, unmetered calls)] where positive, largest first; bedrock-mantle inferences)."""
    invoked: dict[str, float] = defaultdict(float)
    for key in store.keys(AWS_BEDROCK_NAMESPACE, "Invocations"):
        dims = dict(key.dimensions)
        if set(dims) == {DIMENSION_MODEL}:
            invoked[parse_model_id(dims[DIMENSION_MODEL]).base_id] += (
                store.statistic(key, "Sum", start, end) or 0.0
            )
    gaps = []
    for model, count in invoked.items():
        metered = (
            store.statistic(MetricKey.of(namespace, "Requests", {DIMENSION_MODEL: model}), "Sum", start, end)
            or 0.0
        )
        throttled = (
            store.statistic(MetricKey.of(namespace, "Throttles", {DIMENSION_MODEL: model}), "Sum", start, end)
            or 0.0
        )
        gap = count - (metered - throttled)
        if gap > 0.5:
            gaps.append((model, gap))
    mantle = store.statistic(MetricKey.of(MANTLE_NAMESPACE, "Inferences"), "Sum", start, end) or 0.0
    return sorted(gaps, key=lambda row: -row[1]), mantle
