"""Compact CloudWatch Embedded Metric Format for the metering contract (bedrock_watch.contract).

One document per (minute, ModelId, Application) carries the four dimension sets of the contract:
a document has one set of dimension values, so per-model and per-application sums stay exact
while CloudWatch rolls the same samples up into `[]`, `[ModelId]` and `[Application]`. Summed
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
    DIMENSION_APPLICATION,
    DIMENSION_MODEL,
    DIMENSION_SETS,
    METERING_METRICS,
    PER_REQUEST_METRICS,
)

MALFORMED_METRIC: Final = "MalformedRecords"
# Property: requests of the series priced at the tier they asked for (no served tier was logged).
TIER_AS_REQUESTED: Final = "TierPricedAsRequested"
MAX_METRICS_PER_DOCUMENT: Final = 100
MAX_VALUES_PER_METRIC: Final = 100
MINUTE_MS: Final = 60_000
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
_DIMENSIONS: Final[list[list[str]]] = [list(dimension_set) for dimension_set in DIMENSION_SETS]
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


# (minute start ms, ModelId, Application): a plain tuple, hashed in C on the per-record hot path.
SeriesKey = tuple[int, str, str]


def minute_of(timestamp_ms: int) -> int:
    """The start of the minute `timestamp_ms` falls in."""
    return timestamp_ms - timestamp_ms % MINUTE_MS


def clamp_timestamp(timestamp_ms: int, now_ms: int) -> int:
    """`timestamp_ms` moved inside the window CloudWatch accepts EMF for (relative to `now_ms`)."""
    return min(max(timestamp_ms, now_ms - MAX_AGE_MS), now_ms + MAX_AHEAD_MS)


class EmfWriter:
    """Renders aggregated series as newline-separated EMF documents for one namespace."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def _directive(
        self, timestamp_ms: int, names: Iterable[str], dimensions: list[list[str]]
    ) -> dict[str, Any]:
        return {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": self.namespace,
                    "Dimensions": dimensions,
                    "Metrics": [_DEFINITIONS[name] for name in names],
                }
            ],
        }

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
                document: dict[str, Any] = {"_aws": self._directive(timestamp_ms, part, _DIMENSIONS)}
                document[DIMENSION_MODEL] = key[1]
                document[DIMENSION_APPLICATION] = key[2]
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
        document: dict[str, Any] = {"_aws": self._directive(timestamp_ms, (MALFORMED_METRIC,), [[]])}
        document[MALFORMED_METRIC] = count
        return document

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
