"""The sandbox's CloudWatch metric store: EMF and PutMetricData in, CloudWatch statistics out.

Design (docs/decisions.md, "metric store"): one in-memory store, keyed exactly as CloudWatch
keys a metric (namespace, name, the full set of dimension name/value pairs — a metric with
dimensions [ModelId] is a different metric from the same name with [] or [ModelId, Application]).
Each key holds time-ordered entries; an entry is either raw samples (value, weight) — from an
EMF value or array, or PutMetricData Value/Values+Counts — or a statistic set
(PutMetricData StatisticValues: sum, count, min, max, no samples). Statistics are computed at
query time over `[start, end)`: Sum, Average, Minimum, Maximum, SampleCount and percentiles
`pNN(.N)` from the raw samples (nearest rank, see `percentile`).

It is fed by
  (a) EMF documents in function output: `attach()` wraps moto's `LambdaFunction.save_logs`, the
      point where the in-process Lambda shim writes a function's stdout to its log group, and
      extracts every EMF document, as CloudWatch Logs does for Lambda log groups;
  (b) PutMetricData: `attach()` wraps moto's `CloudWatchBackend.put_metric_data` so the data
      lands both in moto and here;
  (c) `seed()` / `add()`, for the AWS/Bedrock metrics the drill simulates.
and `attach()` answers moto's `GetMetricData` from this store (MetricStat queries with exact
dimension matching and percentiles, and metric math through sandbox.metricmath), because moto's
own GetMetricData matches a query without dimensions against every dimension set of that name
(CostUSD for [] would count each dollar four times) and has no percentiles.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

Dimensions = tuple[tuple[str, str], ...]
Clock = Callable[[], datetime]

_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")
EMF_MAX_AGE = timedelta(days=14)  # CloudWatch drops EMF timestamps older than this…
EMF_MAX_AHEAD = timedelta(hours=2)  # …or further in the future than this (FACTS §4)


class UnsupportedStatistic(ValueError):
    """A statistic name the store does not compute (it names the statistic)."""


@dataclass(frozen=True, order=True)
class MetricKey:
    """A CloudWatch metric identity: namespace, name and the exact set of dimensions."""

    namespace: str
    name: str
    dimensions: Dimensions = ()

    @classmethod
    def of(
        cls,
        namespace: str,
        name: str,
        dimensions: Mapping[str, str] | Iterable[Mapping[str, str]] | None = None,
    ) -> MetricKey:
        """From a {name: value} map or a CloudWatch [{Name, Value}] list."""
        if dimensions is None:
            pairs: list[tuple[str, str]] = []
        elif isinstance(dimensions, Mapping):
            pairs = [(str(k), str(v)) for k, v in dimensions.items()]
        else:
            pairs = [(str(d["Name"]), str(d["Value"])) for d in dimensions]
        return cls(namespace, name, tuple(sorted(pairs)))

    def label(self) -> str:
        dims = ",".join(f"{k}={v}" for k, v in self.dimensions)
        return f"{self.namespace}/{self.name}" + (f"[{dims}]" if dims else "")


@dataclass(frozen=True)
class _Entry:
    ts: float
    total: float
    count: float
    minimum: float
    maximum: float
    samples: tuple[tuple[float, float], ...] | None  # (value, weight); None for statistic sets


@dataclass
class Aggregate:
    """Everything published to one metric in one time window."""

    total: float = 0.0
    count: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    samples: list[tuple[float, float]] | None = field(default_factory=list)

    def add(self, entry: _Entry) -> None:
        self.total += entry.total
        self.count += entry.count
        self.minimum = min(self.minimum, entry.minimum)
        self.maximum = max(self.maximum, entry.maximum)
        if entry.samples is None:
            self.samples = None  # a statistic set has no distribution: no percentiles
        elif self.samples is not None:
            self.samples.extend(entry.samples)

    def statistic(self, stat: str) -> float | None:
        """The value of `stat` (Sum, Average, Minimum, Maximum, SampleCount, pNN) or None."""
        if self.count <= 0:
            return None
        if stat == "Sum":
            return self.total
        if stat == "Average":
            return self.total / self.count
        if stat == "Minimum":
            return self.minimum
        if stat == "Maximum":
            return self.maximum
        if stat == "SampleCount":
            return self.count
        match = _PERCENTILE.match(stat)
        if match:
            if self.samples is None:
                return None  # CloudWatch has no percentiles for data sent only as statistic sets
            return percentile(self.samples, float(match.group(1)))
        raise UnsupportedStatistic(f"statistic {stat!r} is not computed by the sandbox")


def check_statistic(stat: str) -> None:
    """Raise UnsupportedStatistic unless the store computes `stat`."""
    if stat not in {"Sum", "Average", "Minimum", "Maximum", "SampleCount"} and not _PERCENTILE.match(stat):
        raise UnsupportedStatistic(f"statistic {stat!r} is not computed by the sandbox")


def percentile_of(stat: str) -> float | None:
    """95.0 for "p95", None for a non-percentile statistic."""
    match = _PERCENTILE.match(stat)
    return float(match.group(1)) if match else None


def percentile(samples: Iterable[tuple[float, float]], p: float) -> float:
    """Nearest-rank percentile of weighted samples: the smallest value with at least p % at or below.

    p95 over 20 samples is the 19th smallest; p50 over 4 samples is the 2nd smallest. CloudWatch
    describes pNN as "NN % of the data is at or below this value"; over exact samples this is that
    definition, with no interpolation (see docs/decisions.md for how CloudWatch itself may differ).
    """
    ordered = sorted(samples)
    total = sum(weight for _, weight in ordered)
    if not ordered or total <= 0:
        raise ValueError("percentile of no samples")
    target = p / 100.0 * total
    running = 0.0
    for value, weight in ordered:
        running += weight
        if running >= target - 1e-9 * total:
            return value
    return ordered[-1][0]


def period_start(ts: float, period: int) -> float:
    """Start of the epoch-aligned period containing `ts` (CloudWatch aligns periods this way)."""
    return math.floor(ts / period) * period


@dataclass(frozen=True)
class EmfSample:
    """One metric's values from one EMF document, for one dimension set."""

    key: MetricKey
    values: tuple[float, ...]
    unit: str | None
    timestamp: datetime


class EmfError(ValueError):
    """A line that looks like EMF but that CloudWatch would not turn into metrics."""


def emf_documents(text: str) -> Iterator[dict[str, Any]]:
    """The EMF documents among output lines (other lines, e.g. structured logs, are skipped)."""
    for line in text.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        if isinstance(document, dict) and "_aws" in document:
            yield document


def parse_emf(line: str | Mapping[str, Any], *, strict: bool = False) -> list[EmfSample]:
    """The metric samples of one EMF document ([] for a line that is not EMF at all).

    Follows the CloudWatch EMF specification: `_aws.Timestamp` (ms), `_aws.CloudWatchMetrics[]`
    directives each with `Namespace`, `Dimensions` (list of dimension-key lists; every key must
    be a string member of the document) and `Metrics[].Name` (the member holds a number or an
    array of up to 100 numbers), at most 100 metrics per directive. Each dimension set yields its
    own metric. Raises EmfError for a document CloudWatch would reject; `strict` (what tests of
    the EMF a function prints use) also rejects a non-integer Timestamp and a declared metric
    the document does not hold.
    """
    if isinstance(line, str):
        text = line.strip()
        if not text.startswith("{") or '"_aws"' not in text:
            return []
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EmfError(f"EMF line is not valid JSON: {exc.msg}") from None
    else:
        doc = dict(line)
    meta = doc.get("_aws") if isinstance(doc, dict) else None
    if not isinstance(meta, dict):
        return []
    ts_ms = meta.get("Timestamp")
    if not isinstance(ts_ms, int if strict else int | float) or isinstance(ts_ms, bool):
        raise EmfError("EMF _aws.Timestamp must be a number of milliseconds")
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list):
        raise EmfError("EMF _aws.CloudWatchMetrics must be a list")
    timestamp = datetime.fromtimestamp(ts_ms / 1000.0, UTC)
    out: list[EmfSample] = []
    for directive in directives:
        namespace = directive.get("Namespace") if isinstance(directive, dict) else None
        if not isinstance(namespace, str) or not namespace:
            raise EmfError("EMF directive without a Namespace")
        dimension_sets = directive.get("Dimensions", [])
        if not isinstance(dimension_sets, list):
            raise EmfError("EMF Dimensions must be a list of lists")
        if not dimension_sets:
            dimension_sets = [[]]
        metrics = directive.get("Metrics")
        if not isinstance(metrics, list):
            raise EmfError("EMF directive without a Metrics list")
        if len(metrics) > 100:
            raise EmfError(f"EMF directive with {len(metrics)} metrics (limit 100)")
        for dim_keys in dimension_sets:
            if not isinstance(dim_keys, list) or len(dim_keys) > 30:
                raise EmfError("EMF dimension set must be a list of at most 30 keys")
            dims: dict[str, str] = {}
            for key in dim_keys:
                value = doc.get(key)
                if not isinstance(value, str):
                    raise EmfError(f"EMF dimension {key!r} has no string value in the document")
                dims[key] = value
            for metric in metrics:
                name = metric.get("Name") if isinstance(metric, dict) else None
                if not isinstance(name, str):
                    raise EmfError("EMF metric definition without a Name")
                raw = doc.get(name)
                if raw is None and strict:
                    raise EmfError(f"EMF metric {name} declared but absent")
                if raw is None:
                    continue  # a declared metric with no value publishes nothing
                values = raw if isinstance(raw, list) else [raw]
                if len(values) > 100:
                    raise EmfError(f"EMF metric {name} has {len(values)} values (limit 100)")
                if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                    raise EmfError(f"EMF metric {name} has a non-numeric value")
                out.append(
                    EmfSample(
                        MetricKey.of(namespace, name, dims),
                        tuple(float(v) for v in values),
                        metric.get("Unit"),
                        timestamp,
                    )
                )
    return out


@dataclass(frozen=True)
class Samples:
    """Every raw sample of one metric over all time, for tables and tests."""

    pairs: tuple[tuple[float, float], ...] = ()  # (value, weight)

    @property
    def values(self) -> list[float]:
        return [value for value, _ in self.pairs]

    @property
    def sum(self) -> float:
        return math.fsum(value * weight for value, weight in self.pairs)

    def percentile(self, p: float) -> float | None:
        """Nearest-rank percentile (see `percentile`); None without samples."""
        return percentile(self.pairs, p) if self.pairs else None


class MetricStore:
    """Metric data by CloudWatch identity, with CloudWatch statistics over any window."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or (lambda: datetime.now(UTC))
        self._series: dict[MetricKey, tuple[list[float], list[_Entry]]] = {}
        self._lock = threading.RLock()
        self.emf_errors: list[str] = []
        self.units: dict[MetricKey, str] = {}

    # ------------------------------------------------------------------ writing
    def _insert(self, key: MetricKey, entry: _Entry, unit: str | None) -> None:
        with self._lock:
            stamps, entries = self._series.setdefault(key, ([], []))
            index = bisect.bisect_right(stamps, entry.ts)
            stamps.insert(index, entry.ts)
            entries.insert(index, entry)
            if unit:
                self.units.setdefault(key, unit)

    def _when(self, timestamp: datetime | None) -> float:
        return (timestamp or self._clock()).timestamp()

    def add(
        self,
        key: MetricKey,
        values: float | Iterable[float],
        *,
        timestamp: datetime | None = None,
        counts: Iterable[float] | None = None,
        unit: str | None = None,
    ) -> None:
        """Record raw samples (a value, or values with optional counts as in PutMetricData)."""
        vals = [float(values)] if isinstance(values, int | float) else [float(v) for v in values]
        weights = [1.0] * len(vals) if counts is None else [float(c) for c in counts]
        if len(weights) != len(vals):
            raise ValueError("values and counts differ in length")
        pairs = tuple((v, w) for v, w in zip(vals, weights, strict=True) if w > 0)
        if not pairs:
            return
        entry = _Entry(
            ts=self._when(timestamp),
            total=sum(v * w for v, w in pairs),
            count=sum(w for _, w in pairs),
            minimum=min(v for v, _ in pairs),
            maximum=max(v for v, _ in pairs),
            samples=pairs,
        )
        self._insert(key, entry, unit)

    def add_statistic_set(
        self,
        key: MetricKey,
        *,
        total: float,
        count: float,
        minimum: float,
        maximum: float,
        timestamp: datetime | None = None,
        unit: str | None = None,
    ) -> None:
        """Record a PutMetricData StatisticValues set (no percentiles can come from it)."""
        entry = _Entry(self._when(timestamp), total, count, minimum, maximum, None)
        self._insert(key, entry, unit)

    def seed(
        self,
        namespace: str,
        name: str,
        value: float | Iterable[float],
        *,
        dimensions: Mapping[str, str] | None = None,
        timestamp: datetime | None = None,
        unit: str | None = None,
    ) -> None:
        """Publish samples directly, e.g. the AWS/Bedrock native metrics the drill simulates."""
        self.add(MetricKey.of(namespace, name, dimensions), value, timestamp=timestamp, unit=unit)

    def ingest_emf(
        self, text: str, *, received_at: datetime | None = None, use_document_time: bool = False
    ) -> int:
        """Extract every EMF document from `text` (one per line); returns the samples recorded.

        Samples are stamped with `received_at` (default: the clock's now) — the simulated time at
        which the function printed them — unless `use_document_time`, in which case the
        document's own Timestamp counts and, as in CloudWatch, a document older than 14 days or
        more than 2 h ahead of `received_at` is dropped.
        """
        received = received_at or self._clock()
        added = 0
        for line in text.splitlines():
            try:
                samples = parse_emf(line)
            except EmfError as exc:
                self.emf_errors.append(str(exc))
                continue
            for sample in samples:
                when = received
                if use_document_time:
                    if not received - EMF_MAX_AGE <= sample.timestamp <= received + EMF_MAX_AHEAD:
                        self.emf_errors.append(f"{sample.key.label()}: timestamp outside CloudWatch's window")
                        continue
                    when = sample.timestamp
                self.add(sample.key, sample.values, timestamp=when, unit=sample.unit)
                added += len(sample.values)
        return added

    def ingest_put_metric_data(self, namespace: str, metric_data: Iterable[Mapping[str, Any]]) -> None:
        """Record one PutMetricData request (Value, Values+Counts or StatisticValues)."""
        for datum in metric_data:
            key = MetricKey.of(namespace, str(datum["MetricName"]), datum.get("Dimensions") or [])
            timestamp = datum.get("Timestamp")
            when = _as_datetime(timestamp) if timestamp is not None else None
            unit = datum.get("Unit")
            if datum.get("StatisticValues"):
                stats = datum["StatisticValues"]
                self.add_statistic_set(
                    key,
                    total=float(stats["Sum"]),
                    count=float(stats["SampleCount"]),
                    minimum=float(stats["Minimum"]),
                    maximum=float(stats["Maximum"]),
                    timestamp=when,
                    unit=unit,
                )
            elif datum.get("Values"):
                self.add(key, datum["Values"], counts=datum.get("Counts"), timestamp=when, unit=unit)
            else:
                self.add(key, float(datum.get("Value", 0)), timestamp=when, unit=unit)

    # ------------------------------------------------------------------ reading
    def keys(self, namespace: str | None = None, name: str | None = None) -> list[MetricKey]:
        """Every metric identity recorded, optionally of one namespace and/or name."""
        with self._lock:
            return sorted(
                k
                for k in self._series
                if (namespace is None or k.namespace == namespace) and (name is None or k.name == name)
            )

    def get(self, namespace: str, name: str, **dimensions: str) -> Samples:
        """The raw samples of `name` with exactly these dimensions (empty when never published)."""
        with self._lock:
            _, entries = self._series.get(MetricKey.of(namespace, name, dimensions), ([], []))
            return Samples(tuple(pair for entry in entries for pair in entry.samples or ()))

    def dimension_values(self, namespace: str, dimension: str) -> list[str]:
        """Every value `dimension` took in the namespace's single-dimension metrics, sorted."""
        return sorted(
            {k.dimensions[0][1] for k in self.keys(namespace) if [d for d, _ in k.dimensions] == [dimension]}
        )

    def aggregate(self, key: MetricKey, start: datetime, end: datetime) -> Aggregate | None:
        """Everything published to `key` in [start, end), or None if nothing was."""
        with self._lock:
            series = self._series.get(key)
            if series is None:
                return None
            stamps, entries = series
            lo = bisect.bisect_left(stamps, start.timestamp())
            hi = bisect.bisect_left(stamps, end.timestamp())
            if lo >= hi:
                return None
            agg = Aggregate()
            for entry in entries[lo:hi]:
                agg.add(entry)
            return agg

    def merged_statistic(
        self, keys: Iterable[MetricKey], stat: str, start: datetime, end: datetime
    ) -> float | None:
        """`stat` over the union of several metrics' data in [start, end) (Metrics Insights style)."""
        check_statistic(stat)
        merged: Aggregate | None = None
        with self._lock:
            for key in keys:
                stamps, entries = self._series.get(key, ([], []))
                lo = bisect.bisect_left(stamps, start.timestamp())
                hi = bisect.bisect_left(stamps, end.timestamp())
                for entry in entries[lo:hi]:
                    merged = merged or Aggregate()
                    merged.add(entry)
        return None if merged is None else merged.statistic(stat)

    def statistic(self, key: MetricKey, stat: str, start: datetime, end: datetime) -> float | None:
        """`stat` of `key` over [start, end); None when there is no data (a missing datapoint)."""
        check_statistic(stat)
        agg = self.aggregate(key, start, end)
        return None if agg is None else agg.statistic(stat)

    def datapoints(
        self, key: MetricKey, stat: str, period: int, start: datetime, end: datetime
    ) -> list[tuple[datetime, float]]:
        """(period start, value) for each epoch-aligned period in [start, end) that has data."""
        check_statistic(stat)
        out: list[tuple[datetime, float]] = []
        first = period_start(start.timestamp(), period)
        t = first
        while t < end.timestamp():
            lo = datetime.fromtimestamp(t, UTC)
            value = self.statistic(key, stat, lo, lo + timedelta(seconds=period))
            if value is not None:
                out.append((lo, value))
            t += period
        return out

    def sample_count(self, key: MetricKey, start: datetime, end: datetime) -> float:
        agg = self.aggregate(key, start, end)
        return 0.0 if agg is None else agg.count

    # ------------------------------------------------------------------ moto integration
    @contextlib.contextmanager
    def attach(self, *, capture_lambda_output: bool = True) -> Iterator[MetricStore]:
        """Feed this store from moto (function output, PutMetricData) and answer GetMetricData."""
        from moto.awslambda.models import LambdaFunction
        from moto.cloudwatch.models import CloudWatchBackend

        store = self
        original_put = CloudWatchBackend.put_metric_data
        original_save_logs = LambdaFunction.save_logs

        def put_metric_data(backend: Any, namespace: str, metric_data: list[dict[str, Any]]) -> None:
            original_put(backend, namespace, metric_data)
            store.ingest_put_metric_data(namespace, metric_data)

        def get_metric_data(
            backend: Any, queries: Any, start_time: Any, end_time: Any, scan_by: str = ""
        ) -> Any:
            from sandbox.metricmath import get_metric_data as answer

            ascending = scan_by or "TimestampAscending"  # moto's backend default
            return answer(store, queries, _as_datetime(start_time), _as_datetime(end_time), ascending)

        def save_logs(fn: Any, output: str) -> Any:
            result = original_save_logs(fn, output)
            store.ingest_emf(output)
            return result

        original_list = CloudWatchBackend.list_metrics

        def list_metrics(
            backend: Any, next_token: Any, namespace: str, metric_name: str, dimensions: Any
        ) -> Any:
            # moto lists PutMetricData metrics only; the store also holds those the EMF created.
            # RecentlyActive is not modelled: everything the store holds counts (data lives for
            # the process), as does one page for all.
            token, listed = original_list(backend, next_token, namespace, metric_name, dimensions)
            if next_token:
                return token, listed
            known = {
                (
                    m.namespace,
                    getattr(m, "name", None) or getattr(m, "metric_name", None),
                    tuple(sorted((d.name, d.value) for d in m.dimensions)),
                )
                for m in listed
            }
            extra = [
                {
                    "Namespace": key.namespace,
                    "MetricName": key.name,
                    "Dimensions": [{"Name": n, "Value": v} for n, v in key.dimensions],
                }
                for key in store.keys(namespace or None, metric_name or None)
                if (key.namespace, key.name, tuple(sorted(key.dimensions))) not in known
            ]
            return token, [*listed, *extra]

        patches: list[Any] = [
            mock.patch.object(CloudWatchBackend, "put_metric_data", put_metric_data),
            mock.patch.object(CloudWatchBackend, "get_metric_data", get_metric_data),
            mock.patch.object(CloudWatchBackend, "list_metrics", list_metrics),
        ]
        if capture_lambda_output:
            patches.append(mock.patch.object(LambdaFunction, "save_logs", save_logs))
        with contextlib.ExitStack() as stack:
            for patch in patches:
                stack.enter_context(patch)
            yield self


def read_emf(texts: Iterable[str]) -> MetricStore:
    """A store holding every EMF document in `texts` at the document's own time.

    Strict (see `parse_emf`), and one metric must keep one unit: raises EmfError at the first
    document CloudWatch would reject, so a test reading a function's output checks its EMF too.
    """
    store = MetricStore()
    units: dict[MetricKey, str] = {}
    for text in texts:
        for line in text.splitlines():
            for sample in parse_emf(line, strict=True):
                if units.setdefault(sample.key, sample.unit or "None") != (sample.unit or "None"):
                    raise EmfError(f"EMF metric {sample.key.name} published with two units")
                store.add(sample.key, sample.values, timestamp=sample.timestamp, unit=sample.unit)
    return store


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    text = str(value)
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
