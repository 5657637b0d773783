"""Compact CloudWatch Embedded Metric Format for the metering contract (bedrock_watch.contract).

One document per (minute, ModelId, Application) carries, for the configured MetricDetail level,
one directive per group of metrics that share their dimension sets (in `lean`: most metrics at
`[]` only, CostUSD at `[]` and `[Application]`). A document has one set of dimension values, so
the sums at every published dimension set stay exact while CloudWatch rolls the same samples up.
Every figure is also a plain field of the document, published or not, so Logs Insights can break
down by model, application or anything else without a metric per value. Summed
metrics are one number; per-request metrics are arrays with one sample per request, so
CloudWatch percentiles are the percentiles of the requests. Metrics that are zero are left out
(bytes are ingestion cost) except the denominators alarms divide by. EMF limits (≤100 metrics,
≤100 values per array, timestamp ≤14 days old and ≤2 h ahead) are met by splitting documents,
never by dropping samples.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from bedrock_watch.contract import (
    ALWAYS_PRESENT_METRICS,
    DEFAULT_METRIC_DETAIL,
    DIMENSION_APPLICATION,
    DIMENSION_MODEL,
    FIELD_IDENTITY,
    FIELD_ROUTE,
    METERING_METRICS,
    PER_REQUEST_METRICS,
    DimensionSet,
    spec,
)

MALFORMED_METRIC: Final = "MalformedRecords"
# Property: requests of the series priced at the tier they asked for (no served tier was logged).
TIER_AS_REQUESTED: Final = "TierPricedAsRequested"
MAX_METRICS_PER_DOCUMENT: Final = 100
MAX_VALUES_PER_METRIC: Final = 100
MINUTE_MS: Final = 60_000
MAX_CACHED_DIRECTIVES: Final = 512  # EmfWriter keeps at most this many directive lists
# CloudWatch drops EMF metrics older than 14 days or more than 2 hours ahead; keep a minute of margin.
MAX_AGE_MS: Final = 14 * 24 * 3600 * 1000 - MINUTE_MS
MAX_AHEAD_MS: Final = 2 * 3600 * 1000 - MINUTE_MS

# Summed metrics in contract order (the order they appear in a document).
SUMMED_METRICS: Final[tuple[str, ...]] = tuple(
    name for name in METERING_METRICS if name not in PER_REQUEST_METRICS and name != MALFORMED_METRIC
)
SAMPLED_METRICS: Final[tuple[str, ...]] = tuple(
    name for name in METERING_METRICS if name in PER_REQUEST_METRICS
)
_ZERO_SUMS: Final[dict[str, float]] = dict.fromkeys(SUMMED_METRICS, 0)

# What a Logs Insights query over the metering log group may read. Scalars hold one number or
# string per document (a sum over all documents is the records' total); samples are a number or an
# array of up to 100 per-request values, which Logs Insights cannot aggregate element-wise: read
# per-model latency from AWS/Bedrock instead, or the [] metric's percentiles.
SCALAR_FIELDS: Final[frozenset[str]] = frozenset(
    {
        DIMENSION_MODEL,
        DIMENSION_APPLICATION,
        FIELD_ROUTE,
        FIELD_IDENTITY,
        *SUMMED_METRICS,
        MALFORMED_METRIC,
        TIER_AS_REQUESTED,
    }
)
SAMPLE_FIELDS: Final[frozenset[str]] = frozenset(SAMPLED_METRICS)
# Metric definitions are built once and shared by every document (orjson serialises them as-is).
_DEFINITIONS: Final[dict[str, dict[str, str]]] = {
    name: {"Name": name, "Unit": unit} for name, unit in METERING_METRICS.items()
}


@dataclass(slots=True)
class Series:
    """The figures of one (minute, model, application): sums and per-request samples."""

    sums: dict[str, float] = field(default_factory=lambda: dict(_ZERO_SUMS))
    samples: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in SAMPLED_METRICS})
    # Plain EMF properties (queryable in Logs Insights, never a billed metric), e.g. TIER_AS_REQUESTED.
    properties: dict[str, int] = field(default_factory=dict)


# (minute start ms, ModelId, Application, Route, Identity): a plain tuple, hashed in C on the
# per-record hot path. Route and Identity are None when the record carries none.
SeriesKey = tuple[int, str, str, str | None, str | None]


def minute_of(timestamp_ms: int) -> int:
    """The start of the minute `timestamp_ms` falls in."""
    return timestamp_ms - timestamp_ms % MINUTE_MS


def clamp_timestamp(timestamp_ms: int, now_ms: int) -> int:
    """`timestamp_ms` moved inside the window CloudWatch accepts EMF for (relative to `now_ms`)."""
    return min(max(timestamp_ms, now_ms - MAX_AGE_MS), now_ms + MAX_AHEAD_MS)


def directive_groups(level: str) -> list[tuple[tuple[DimensionSet, ...], tuple[str, ...]]]:
    """(dimension sets, metric names) per directive of a metering document at `level`: metrics that
    share their dimension sets share a directive; metrics published nowhere at `level` are in
    none (they stay plain fields). Each metric is in at most one group, so nothing is counted twice."""
    groups: dict[tuple[DimensionSet, ...], list[str]] = {}
    for name in METERING_METRICS:
        sets = spec(name).dimension_sets(level)
        if sets:
            groups.setdefault(sets, []).append(name)
    return [(sets, tuple(names)) for sets, names in groups.items()]


class EmfWriter:
    """Renders aggregated series as newline-separated EMF documents for one namespace and level."""

    def __init__(self, namespace: str, level: str = DEFAULT_METRIC_DETAIL) -> None:
        self.namespace = namespace
        self.level = level
        groups = directive_groups(level)
        self._group_dimensions: list[list[list[str]]] = [[list(s) for s in sets] for sets, _ in groups]
        self._group_of: dict[str, int] = {name: i for i, (_, names) in enumerate(groups) for name in names}
        # A document's directives depend only on which metrics it holds, and batches repeat the
        # same few combinations: each is built once and shared (orjson serialises it as-is).
        self._directives: dict[tuple[str, ...], list[dict[str, Any]]] = {}

    def _directive(self, timestamp_ms: int, names: Iterable[str]) -> dict[str, Any]:
        held = tuple(names)
        directives = self._directives.get(held)
        if directives is None:
            grouped: dict[int, list[dict[str, str]]] = {}
            for name in held:
                group = self._group_of.get(name)
                if group is not None:
                    grouped.setdefault(group, []).append(_DEFINITIONS[name])
            directives = [
                {"Namespace": self.namespace, "Dimensions": self._group_dimensions[group], "Metrics": metrics}
                for group, metrics in sorted(grouped.items())
            ]
            if len(self._directives) >= MAX_CACHED_DIRECTIVES:
                self._directives.clear()  # bounded: the combinations are few, but never trust that
            self._directives[held] = directives
        return {"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}

    def series_documents(self, key: SeriesKey, series: Series, timestamp_ms: int) -> Iterator[dict[str, Any]]:
        """The documents of one series: the first carries every non-zero sum (and Requests/Errors
        always) with the first 100 samples of each per-request metric; further documents carry
        the remaining samples, 100 per metric each. Each is split again past 100 metrics."""
        first: dict[str, Any] = {
            name: value for name, value in series.sums.items() if value or name in ALWAYS_PRESENT_METRICS
        }
        longest = max((len(values) for values in series.samples.values()), default=0)
        page = 0
        while True:
            values = first if page == 0 else {}
            start = page * MAX_VALUES_PER_METRIC
            for name, samples in series.samples.items():
                chunk = samples[start : start + MAX_VALUES_PER_METRIC]
                if chunk:
                    # A single sample as a bare number saves two bytes and means the same.
                    values[name] = chunk if len(chunk) > 1 else chunk[0]
            names = list(values)
            for offset in range(0, len(names), MAX_METRICS_PER_DOCUMENT):
                part = names[offset : offset + MAX_METRICS_PER_DOCUMENT]
                document: dict[str, Any] = {"_aws": self._directive(timestamp_ms, part)}
                document[DIMENSION_MODEL] = key[1]
                document[DIMENSION_APPLICATION] = key[2]
                if key[3] is not None:
                    document[FIELD_ROUTE] = key[3]
                if key[4] is not None:
                    document[FIELD_IDENTITY] = key[4]
                if page == 0 and offset == 0 and series.properties:
                    document.update(series.properties)
                for name in part:
                    document[name] = values[name]
                yield document
            page += 1
            if page * MAX_VALUES_PER_METRIC >= longest:
                return

    def malformed_document(self, count: int, timestamp_ms: int) -> dict[str, Any]:
        """MalformedRecords for all traffic only: a bad line has no trustworthy model or application."""
        return {"_aws": self._directive(timestamp_ms, (MALFORMED_METRIC,)), MALFORMED_METRIC: count}

    def documents(
        self, series: Mapping[SeriesKey, Series], malformed: Mapping[int, int], *, now_ms: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Every document for a batch, and how many timestamps had to be moved into EMF's window."""
        out: list[dict[str, Any]] = []
        clamped = 0
        for key, figures in series.items():
            timestamp = clamp_timestamp(key[0], now_ms)
            clamped += timestamp != key[0]
            out.extend(self.series_documents(key, figures, timestamp))
        for minute, count in malformed.items():
            timestamp = clamp_timestamp(minute, now_ms)
            clamped += timestamp != minute
            out.append(self.malformed_document(count, timestamp))
        return out, clamped

    @staticmethod
    def render(documents: Iterable[Mapping[str, Any]]) -> str:
        """Documents as EMF lines (each ends with a newline), ready for one write to stdout."""
        return b"".join(orjson.dumps(document) + b"\n" for document in documents).decode()
