"""Read EMF lines back the way CloudWatch Logs does: validate each document against the EMF rules
and turn it into metric samples per (namespace, metric, dimensions, minute).

Used by the drill to print its table from what the handler printed, and by tests to check the
EMF shape. Strict on purpose: a document CloudWatch would reject raises EmfFormatError here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

MAX_METRICS = 100
MAX_VALUES = 100
MAX_DIMENSIONS_PER_SET = 30

Dimensions = tuple[tuple[str, str], ...]


class EmfFormatError(ValueError):
    """A document CloudWatch would not turn into metrics."""


def emf_documents(text: str) -> Iterator[dict[str, Any]]:
    """The EMF documents among output lines (other lines, e.g. structured logs, are skipped)."""
    for line in text.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        if isinstance(document, dict) and "_aws" in document:
            yield document


@dataclass
class MetricSeries:
    unit: str
    values: list[float] = field(default_factory=list)

    @property
    def sum(self) -> float:
        return math.fsum(self.values)

    def percentile(self, p: float) -> float | None:
        """Nearest-rank percentile of the samples (None without samples)."""
        if not self.values:
            return None
        ordered = sorted(self.values)
        rank = max(1, math.ceil(p / 100 * len(ordered)))
        return ordered[rank - 1]


@dataclass
class MetricStore:
    """Samples per (namespace, metric name, dimensions); timestamps kept per sample minute."""

    series: dict[tuple[str, str, Dimensions], MetricSeries] = field(default_factory=dict)
    documents: int = 0
    timestamps: list[int] = field(default_factory=list)
    directives: list[dict[str, Any]] = field(default_factory=list)

    def add_document(self, document: dict[str, Any]) -> None:
        """Validate one document and add its samples to every dimension set it declares."""
        aws = document.get("_aws")
        if not isinstance(aws, dict) or not isinstance(aws.get("Timestamp"), int):
            raise EmfFormatError("document has no integer _aws.Timestamp")
        directives = aws.get("CloudWatchMetrics")
        if not isinstance(directives, list) or not directives:
            raise EmfFormatError("document has no CloudWatchMetrics directive")
        self.documents += 1
        self.timestamps.append(aws["Timestamp"])
        for directive in directives:
            self.directives.append(directive)
            metrics = directive.get("Metrics", [])
            if len(metrics) > MAX_METRICS:
                raise EmfFormatError(f"{len(metrics)} metrics in one directive (max {MAX_METRICS})")
            for dimension_set in directive.get("Dimensions", []):
                if len(dimension_set) > MAX_DIMENSIONS_PER_SET:
                    raise EmfFormatError("dimension set with more than 30 keys")
                try:
                    dims: Dimensions = tuple((key, str(document[key])) for key in dimension_set)
                except KeyError as missing:
                    raise EmfFormatError(f"dimension {missing} declared but absent") from None
                for metric in metrics:
                    self._add(directive["Namespace"], metric, dims, document)

    def _add(
        self, namespace: str, metric: dict[str, Any], dims: Dimensions, document: dict[str, Any]
    ) -> None:
        name = metric["Name"]
        if name not in document:
            raise EmfFormatError(f"metric {name} declared but absent")
        raw = document[name]
        values = raw if isinstance(raw, list) else [raw]
        if len(values) > MAX_VALUES:
            raise EmfFormatError(f"metric {name} has {len(values)} values (max {MAX_VALUES})")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise EmfFormatError(f"metric {name} has a non-numeric value")
        key = (namespace, name, tuple(sorted(dims)))
        entry = self.series.setdefault(key, MetricSeries(metric.get("Unit", "None")))
        if entry.unit != metric.get("Unit", "None"):
            raise EmfFormatError(f"metric {name} published with two units")
        entry.values.extend(values)

    def add_text(self, text: str) -> None:
        for document in emf_documents(text):
            self.add_document(document)

    def get(self, namespace: str, name: str, **dimensions: str) -> MetricSeries:
        """The series of `name` with exactly these dimensions (empty when never published)."""
        key = (namespace, name, tuple(sorted(dimensions.items())))
        return self.series.get(key, MetricSeries("None"))

    def dimension_values(self, namespace: str, dimension: str) -> list[str]:
        """Every value `dimension` took in single-dimension series, sorted."""
        return sorted(
            {
                dims[0][1]
                for ns, _, dims in self.series
                if ns == namespace and len(dims) == 1 and dims[0][0] == dimension
            }
        )


def read_emf(texts: Iterable[str]) -> MetricStore:
    """A store holding every EMF document in `texts`."""
    store = MetricStore()
    for text in texts:
        store.add_text(text)
    return store
