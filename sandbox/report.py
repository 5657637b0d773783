"""`bedrock-watch report FILES…`: meter a user's real invocation logs and backtest the alarms.

Input: files or folders (recursively) of Bedrock model-invocation logs as exported from S3
(`AWSLogs/<acct>/BedrockModelInvocationLogs/<region>/yyyy/mm/dd/hh/*.json.gz`, one record per
line) or from CloudWatch Logs (lines optionally prefixed by an ISO timestamp and a space, or
`{"timestamp": ms, "message": "…"}` events). Gzip is detected by its magic bytes, not the name.

Every line goes through the deployed metering code (bedrock_watch.metering.Meter: parse_line,
ProfileResolver, PriceBook, ApplicationGuard) in chunks of CHUNK_LINES, as the function meters
deliveries; each chunk's series are folded into bounded aggregates and dropped:
  * counters and LogHistogram sketches per model, per application and in total;
  * per-minute aggregates (the metric keys the backtest and the charts need), whose size grows
    with the time span covered, never with the number of lines.
Duplicate request ids are dropped within a chunk, as the function drops them within a delivery.

Backtest: the template's alarms whose metrics all come from our own metering (namespace and
METERING_METRICS of bedrock_watch.contract) are evaluated by sandbox.alarms.AlarmEvaluator
every minute over the logs' span, on a MetricStore fed with the per-minute aggregates (sums as
one datapoint per minute, per-request metrics as sketch buckets with counts, as PutMetricData
Values/Counts). Alarms on AWS-native, Lambda, queue or budget metrics are listed as skipped
with the reason.
"""

from __future__ import annotations

import bisect
import json
import math
import re
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final

import orjson

from bedrock_watch.billing import BillCheck, BillLine, compare
from bedrock_watch.contract import (
    ALWAYS_PRESENT_METRICS,
    AWS_BEDROCK_NAMESPACE,
    BUDGET_METRICS,
    DIMENSION_APPLICATION,
    DIMENSION_MODEL,
    METERING_METRICS,
)
from bedrock_watch.emf import MALFORMED_METRIC, MINUTE_MS, SAMPLED_METRICS, SUMMED_METRICS, Series
from bedrock_watch.errors import BedrockWatchError
from bedrock_watch.metering import Meter, MeteredBatch, MeteringSettings
from bedrock_watch.pricing import PriceBook
from bedrock_watch.records import ErrorClass, InvocationRecord, Malformed, parse_line
from bedrock_watch.routes import InvalidRoute, parse_spec
from bedrock_watch.savings import ApplicationSavings, RouteModels, Usage, estimate
from sandbox.alarms import ALARM, AlarmEvaluator, ChartPoint, CompositeAlarm, MetricAlarm
from sandbox.metrics import Dimensions, MetricKey, MetricStore, percentile_of, period_start
from sandbox.sketch import DEFAULT_RELATIVE_ERROR, LogHistogram
from sandbox.stack import template_alarms

CHUNK_LINES: Final = 2000
CHART_DAYS: Final = 14.0
SCHEMA_VERSION: Final = 1
PERCENTILES: Final = (50.0, 95.0, 99.0)
LOG_SUFFIXES: Final = (".json", ".jsonl", ".gz", ".log", ".txt")
GZIP_MAGIC: Final = b"\x1f\x8b"
ERROR_CLASSES: Final = tuple(member.value for member in ErrorClass)
# Per-minute figures always kept for the charts (besides whatever the alarms query).
CHART_METRICS: Final = ("Requests", "Errors", "Throttles", "TotalTokens", "CostUSD", "Latency")
# A CloudWatch Logs export line: "2026-11-26T12:00:00.123Z {…}".
_ISO_PREFIX = re.compile(rb"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\s+")
# AWS writes the record's timestamp third, before any body: the first match is the top-level one.
_RECORD_TIMESTAMP = re.compile(rb'"timestamp"\s*:\s*"([^"]+)"')
_TIMESTAMP_SCAN: Final = 512


class ReportError(BedrockWatchError):
    """The report cannot run: a missing file, a bad option file (the message names it)."""


class UnreadableFile(BedrockWatchError):
    """One input file cannot be read as an invocation-log export; the message says why."""


class ProfileNotMappedError(BedrockWatchError):
    """An application inference profile the report was not given in --profile-map."""


class OfflineProfiles:
    """A stand-in `bedrock` client for ProfileResolver: a report reads files and calls no AWS API,
    so a profile missing from --profile-map stays unresolved (its requests count as unpriced)
    and is listed so the user can add it."""

    def __init__(self) -> None:
        self.unresolved: set[str] = set()

    def get_inference_profile(self, *, inferenceProfileIdentifier: str) -> dict[str, Any]:
        self.unresolved.add(inferenceProfileIdentifier)
        raise ProfileNotMappedError(f"{inferenceProfileIdentifier} is not in --profile-map")


# ---------------------------------------------------------------------------------- aggregates
@dataclass(slots=True)
class Figures:
    """Sums of the summed metrics and sketches of the per-request ones, for any grouping."""

    sums: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    sketches: dict[str, LogHistogram] = field(default_factory=dict)

    def add(
        self, series: Series, sketched: Iterable[str] = SAMPLED_METRICS, *, with_sums: bool = True
    ) -> None:
        if with_sums:
            sums = self.sums
            for name, value in series.sums.items():
                if value:
                    sums[name] += value
        for name in sketched:
            samples = series.samples.get(name)
            if samples:
                sketch = self.sketches.get(name)
                if sketch is None:
                    sketch = self.sketches[name] = LogHistogram()
                for value in samples:
                    sketch.add(value)

    def summary(self) -> dict[str, Any]:
        """The figures as the report's JSON shows them."""
        s = self.sums
        requests = int(s["Requests"])
        out: dict[str, Any] = {
            "requests": requests,
            "errors": int(s["Errors"]),
            "error_classes": {name: int(s[name]) for name in ERROR_CLASSES if s[name]},
            "tokens": {
                "input": int(s["InputTokens"]),
                "output": int(s["OutputTokens"]),
                "cache_read": int(s["CacheReadInputTokens"]),
                "cache_write": int(s["CacheWriteInputTokens"]),
                "total": int(s["TotalTokens"]),
            },
            "cost_usd": round(float(s["CostUSD"]), 6),
            "unpriced_requests": int(s["UnpricedRequests"]),
            "truncated_responses": int(s["TruncatedResponses"]),
            "guardrail_interventions": int(s["GuardrailInterventions"]),
        }
        for name, key in (
            ("Latency", "latency_ms"),
            ("TimeToFirstToken", "ttft_ms"),
            ("OutputTokensPerSecond", "output_tokens_per_second"),
        ):
            sketch = self.sketches.get(name)
            count = sketch.count if sketch else 0
            entry: dict[str, Any] = {
                "count": count,
                "coverage": round(count / requests, 4) if requests else 0.0,
            }
            for p in PERCENTILES:
                value = sketch.quantile(p) if sketch else None
                entry[f"p{p:g}"] = None if value is None else round(float(value), 1)
            out[key] = entry
        return out


def _dimensions_match(dims: Dimensions, model: str, application: str) -> bool:
    for name, value in dims:
        if (name == DIMENSION_MODEL and value != model) or (
            name == DIMENSION_APPLICATION and value != application
        ):
            return False
    return True


class Aggregator:
    """Everything the report keeps while lines stream: bounded by models, applications and the
    minutes spanned, never by the number of lines.

    Sums are kept per minute; sketches (up to ~550 buckets each) per `sketch_period_s`, the gcd
    of the percentile alarms' periods — every alarm period is a whole number of them, so the
    backtest is unchanged, and a day of dense traffic needs 288 sketches rather than 1,440.
    """

    def __init__(
        self,
        namespace: str,
        minute_keys: Iterable[Dimensions],
        sketched: Iterable[str],
        sketch_period_s: int = 300,
    ) -> None:
        self.namespace = namespace
        self.minute_dimensions: tuple[Dimensions, ...] = tuple(sorted(set(minute_keys) | {()}))
        self.sketched = tuple(sorted(set(sketched)))
        self.sketch_period_ms = sketch_period_s * 1000
        self.sketch_periods: dict[tuple[int, Dimensions], Figures] = {}
        self.totals = Figures()
        self.models: dict[str, Figures] = {}
        self.applications: dict[str, Figures] = {}
        self.minutes: dict[tuple[int, Dimensions], Figures] = {}
        self.malformed_minutes: Counter[int] = Counter()
        self.malformed_reasons: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.first_ms: int | None = None
        self.last_ms: int | None = None
        # For the savings estimates and the bill drift: sums per (application, model), cost per
        # (UTC day, model). Bounded by applications x models and days, like the rest.
        self.usage: dict[tuple[str, str], Figures] = {}
        self.daily_cost: defaultdict[tuple[int, str], float] = defaultdict(float)

    def fold(self, batch: MeteredBatch) -> None:
        """Add one metered chunk; the chunk can then be dropped."""
        summary = batch.summary
        self.counts["records"] += summary.records
        self.counts["duplicates"] += summary.duplicates
        self.counts["skipped"] += summary.skipped
        self.malformed_reasons.update(batch.malformed_reasons)
        self.malformed_minutes.update(batch.malformed_per_minute)
        for (minute, model, application, *_), series in batch.series.items():
            self.totals.add(series)
            self._group(self.models, model).add(series)
            self._group(self.applications, application).add(series)
            self._group(self.usage, (application, model)).add(series, ())
            cost = series.sums.get("CostUSD", 0)
            if cost:
                self.daily_cost[(minute // DAY_MS, model)] += cost
            self._span(minute)
            for dims in self.minute_dimensions:
                if _dimensions_match(dims, model, application):
                    key = (minute, dims)
                    figures = self.minutes.get(key)
                    if figures is None:
                        figures = self.minutes[key] = Figures()
                    figures.add(series, ())
                    key = (minute - minute % self.sketch_period_ms, dims)
                    figures = self.sketch_periods.get(key)
                    if figures is None:
                        figures = self.sketch_periods[key] = Figures()
                    figures.add(series, self.sketched, with_sums=False)
        for minute in batch.malformed_per_minute:
            self._span(minute)

    def malformed(self, reason: str, timestamp_ms: int | None) -> None:
        """A line the report itself could not turn into a log event."""
        self.malformed_reasons[reason] += 1
        if timestamp_ms is not None:
            self.malformed_minutes[timestamp_ms - timestamp_ms % MINUTE_MS] += 1

    def _span(self, minute: int) -> None:
        if self.first_ms is None or minute < self.first_ms:
            self.first_ms = minute
        if self.last_ms is None or minute > self.last_ms:
            self.last_ms = minute

    @staticmethod
    def _group[K](groups: dict[K, Figures], name: K) -> Figures:
        figures = groups.get(name)
        if figures is None:
            figures = groups[name] = Figures()
        return figures

    def metric_store(self) -> MetricStore:
        """The aggregates as CloudWatch data: a sum is one datapoint per minute, a per-request
        metric its sketch buckets as values with counts, one entry per sketch period."""
        store = MetricStore()
        ns = self.namespace
        for (minute, dims), figures in self.minutes.items():
            when = datetime.fromtimestamp(minute / 1000, UTC)
            for name in SUMMED_METRICS:
                value = figures.sums.get(name, 0)
                if value or name in ALWAYS_PRESENT_METRICS:
                    store.add(MetricKey(ns, name, dims), [value], timestamp=when, unit=METERING_METRICS[name])
        for (start, dims), figures in self.sketch_periods.items():
            when = datetime.fromtimestamp(start / 1000, UTC)
            for name, sketch in figures.sketches.items():
                pairs = list(sketch.items())
                store.add(
                    MetricKey(ns, name, dims),
                    [v for v, _ in pairs],
                    counts=[c for _, c in pairs],
                    timestamp=when,
                    unit=METERING_METRICS[name],
                )
        for minute, count in self.malformed_minutes.items():
            store.add(
                MetricKey(ns, MALFORMED_METRIC), [count], timestamp=datetime.fromtimestamp(minute / 1000, UTC)
            )
        return store


# ---------------------------------------------------------------------------------- input
def log_files(paths: Sequence[str | Path]) -> list[Path]:
    """Named files as given; folders searched recursively for log-looking files, in name order."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(LOG_SUFFIXES)
            )
        elif path.is_file():
            found.append(path)
        else:
            raise ReportError(f"{path}: no such file or folder")
    return found


class _Position:
    """Bytes of the underlying (possibly compressed) files consumed so far, for progress."""

    def __init__(self) -> None:
        self.done = 0
        self.current: IO[bytes] | None = None

    def now(self) -> int:
        return self.done + (self.current.tell() if self.current is not None else 0)


def _gunzip_lines(raw: IO[bytes]) -> Iterator[bytes]:
    """Lines of a gzip stream (concatenated members too, as S3 objects may be), decompressed
    in 256 KB steps so memory stays flat whatever the file size. A stream that is cut short or
    corrupt raises UnreadableFile after the lines before the damage (a partial last line is
    dropped, not metered as a malformed record)."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending = b""
    lines_out = 0
    in_member = False  # the current decompressor has been fed part of a member
    while True:
        block = raw.read(1 << 18)
        if not block:
            break
        while block:
            in_member = True
            try:
                data = decompressor.decompress(block)
            except zlib.error:
                raise UnreadableFile(
                    f"gzip data is corrupt after {lines_out:,} lines (the rest of the file is not read)"
                ) from None
            pending += data
            if decompressor.eof:
                block = decompressor.unused_data
                decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                in_member = False
            else:
                block = b""
        *lines, pending = pending.split(b"\n")
        lines_out += len(lines)
        yield from lines
    if in_member and not decompressor.eof:
        raise UnreadableFile(
            f"gzip stream ends early (truncated) after {lines_out:,} lines; the rest is lost"
        )
    pending += decompressor.flush()
    if pending:
        yield pending


def _binary(head: bytes) -> bool:
    """True when the start of a file is not text: NUL bytes, or bytes that are not UTF-8."""
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.start < len(head) - 4  # a character cut at the sample's end is still text
    return False


def _file_lines(path: Path, position: _Position) -> Iterator[bytes]:
    """The lines of one file; UnreadableFile (after the lines before the damage) when it is not a
    log export at all or is damaged."""
    with path.open("rb") as raw:
        position.current = raw
        try:
            gzipped = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            if not gzipped and _binary(raw.read(8192)):
                raise UnreadableFile("is not text nor gzip (binary data): not an invocation-log export")
            raw.seek(0)
            lines: Iterable[bytes] = _gunzip_lines(raw) if gzipped else raw
            first = True
            for line in lines:
                if first and line.strip() in (b"{", b"["):
                    # A pretty-printed JSON document (the sample records in events/, or the output
                    # of `aws logs filter-log-events`): read it whole.
                    rest = line + b"".join(lines)
                    yield from _whole_document(rest)
                    break
                if first and gzipped and _binary(line[:8192]):
                    raise UnreadableFile("holds binary data inside its gzip: not an invocation-log export")
                first = False
                yield line
        finally:
            position.done += raw.tell()
            position.current = None


def _whole_document(text: bytes) -> Iterator[bytes]:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        yield from text.splitlines()
        return
    if isinstance(doc, dict):
        # `aws logs get-log-events` / `filter-log-events` output: {"events": [{timestamp, message}…]}
        events = doc.get("events", doc.get("logEvents"))
        if isinstance(events, list):
            items = events
        elif "schemaType" in doc or "message" in doc:
            items = [doc]
        else:
            keys = ", ".join(sorted(doc)[:5]) or "none"
            raise UnreadableFile(
                f"is a JSON document but not a log export (keys: {keys}; expected invocation records, "
                "or the events of `aws logs filter-log-events`)"
            )
    else:
        items = doc if isinstance(doc, list) else [doc]
    for item in items:
        yield item.encode() if isinstance(item, str) else orjson.dumps(item)


def _iso_ms(text: bytes | str) -> int | None:
    raw = text.decode() if isinstance(text, bytes) else text
    try:
        moment = datetime.fromisoformat(raw.replace(" ", "T", 1))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _timestamp_of(value: Any) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        return _iso_ms(value)
    return None


def log_event(line: bytes) -> tuple[int | None, bytes | str]:
    """(timestamp ms or None, message) of one exported line: an optional ISO-timestamp prefix
    (CloudWatch export) is stripped, a `{"timestamp", "message"}` event is unwrapped, and a bare
    record's own `timestamp` is used when nothing else gives one."""
    timestamp: int | None = None
    prefix = _ISO_PREFIX.match(line)
    if prefix:
        timestamp = _iso_ms(prefix.group(1))
        line = line[prefix.end() :]
    if line.startswith(b'{"schemaType"'):
        if timestamp is None:
            found = _RECORD_TIMESTAMP.search(line, 0, _TIMESTAMP_SCAN)
            timestamp = _iso_ms(found.group(1)) if found else None
        return timestamp, line
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return timestamp, line  # the metering code names what is wrong with it
    if isinstance(doc, str):
        return timestamp, doc  # a JSON-encoded line (e.g. the set-up line in a sample file)
    if isinstance(doc, dict):
        message = doc.get("message")
        if isinstance(message, str) and "schemaType" not in doc:
            return (_timestamp_of(doc.get("timestamp")) or timestamp), message
        if timestamp is None:
            timestamp = _timestamp_of(doc.get("timestamp"))
    return timestamp, line


# ---------------------------------------------------------------------------------- progress
class Progress:
    """One plain-text status line on stderr, redrawn at most every `interval` seconds."""

    def __init__(self, total_bytes: int, stream: IO[str] | None, interval: float = 0.5) -> None:
        self.total = max(total_bytes, 1)
        self.stream = stream
        self.interval = interval
        self.started = time.monotonic()
        self.last = -math.inf  # the first update always draws

    def update(self, lines: int, done_bytes: int, *, final: bool = False) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if not final and now - self.last < self.interval:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        share = min(done_bytes / self.total, 1.0)
        bar = "#" * int(share * 30)
        self.stream.write(
            f"\r[{bar:<30}] {share:6.1%}  {lines:,} lines  {lines / elapsed:,.0f} lines/s"
            + ("\n" if final else "")
        )
        self.stream.flush()


# ---------------------------------------------------------------------------------- backtest
@dataclass
class Backtest:
    """Which alarms were evaluated, which were skipped (and why), and the episodes in ALARM."""

    evaluated: list[str]
    approximated: dict[str, str]
    skipped: dict[str, str]
    episodes: list[dict[str, Any]]
    metric_alarms: dict[str, MetricAlarm]
    evaluator: AlarmEvaluator | None = None
    start: datetime | None = None
    end: datetime | None = None

    def charts(self, max_days: float = CHART_DAYS) -> dict[str, list[ChartPoint]]:
        """Each evaluated metric alarm's compared series (with threshold or band) over the data's
        span — its last `max_days` when longer (a chart is for reading, not for archiving)."""
        if self.evaluator is None or self.start is None or self.end is None:
            return {}
        start = max(self.start, self.end - timedelta(days=max_days))
        out = {}
        for name in self.metric_alarms:
            series = self.evaluator.chart(name, start, self.end).get("")
            if series is not None:
                out[name] = series
        return out


def skip_reason(alarm: MetricAlarm, namespace: str) -> str | None:
    """Why `alarm` cannot be computed from invocation logs, or None when it can."""
    for query in alarm.queries:
        if query.metric is not None:
            key = query.metric
            if key.namespace == AWS_BEDROCK_NAMESPACE:
                return f"AWS/Bedrock-native metric {key.name}: published by Bedrock, not in the logs"
            if key.namespace != namespace:
                return f"{key.namespace} metric {key.name}: about the stack itself, not in the logs"
            if key.name in BUDGET_METRICS:
                return f"budget metric {key.name}: published by the budget guard from month-to-date spend"
            if key.name not in METERING_METRICS:
                return f"metric {key.name} is not a metering metric"
            if any(name not in (DIMENSION_MODEL, DIMENSION_APPLICATION) for name, _ in key.dimensions):
                return f"metric {key.name} has dimensions metering does not publish"
        elif query.expression and query.expression.lstrip().upper().startswith("SELECT"):
            budget = [name for name in BUDGET_METRICS if name in query.expression]
            if budget:
                return f"budget metric {budget[0]} (Metrics Insights query): published by the budget guard"
            return "Metrics Insights query: not evaluated in the backtest"
    return None


def plan_backtest(
    namespace: str, template: Mapping[str, Any] | None = None
) -> tuple[list[MetricAlarm], list[CompositeAlarm], dict[str, str], dict[str, str]]:
    """The template's alarms split into computable metric and composite alarms, the skipped
    ones with their reasons, and the approximated ones (anomaly bands) with how."""
    metric, composite, unsupported = template_alarms(template)
    skipped = {u.logical_id: f"not resolvable: {u.reason}" for u in unsupported}
    usable: list[MetricAlarm] = []
    approximated: dict[str, str] = {}
    for alarm in metric:
        reason = skip_reason(alarm, namespace)
        if reason:
            skipped[alarm.name] = reason
            continue
        usable.append(alarm)
        if alarm.threshold_metric_id:
            approximated[alarm.name] = (
                "anomaly band approximated by the sandbox (mean ± k·sd of the previous 60 periods; "
                "CloudWatch's model also learns seasonality and trend from two weeks of history)"
            )
    names = {a.name for a in usable}
    usable_composites: list[CompositeAlarm] = []
    # composites may name composites: settle until no more can be kept
    pending = list(composite)
    while True:
        kept = [c for c in pending if c.children() <= names]
        if not kept:
            break
        usable_composites.extend(kept)
        names |= {c.name for c in kept}
        pending = [c for c in pending if c not in kept]
    for c in pending:
        missing = sorted(c.children() - names)
        skipped[c.name] = f"composite of skipped alarm{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
    return usable, usable_composites, skipped, approximated


def run_backtest(
    aggregator: Aggregator,
    metric: list[MetricAlarm],
    composite: list[CompositeAlarm],
    skipped: dict[str, str],
    approximated: dict[str, str],
) -> Backtest:
    """Evaluate the alarms every minute from the first minute of data until their evaluation
    range has moved past the last one."""
    result = Backtest(
        [a.name for a in metric] + [c.name for c in composite],
        approximated,
        skipped,
        [],
        {a.name: a for a in metric},
    )
    if aggregator.first_ms is None or aggregator.last_ms is None or not (metric or composite):
        return result
    store = aggregator.metric_store()
    start = datetime.fromtimestamp(aggregator.first_ms / 1000, UTC)
    end = datetime.fromtimestamp(aggregator.last_ms / 1000, UTC) + timedelta(minutes=1)
    # until each alarm's evaluation range (N + 2 periods) has left the data, plus one period
    tail = max((a.period * (a.evaluation_periods + 3) for a in metric), default=0)
    evaluator = AlarmEvaluator(metric, composite, store, now=lambda: start, update_moto=False)
    # CloudWatch evaluates every minute, but an alarm's datapoints (complete, epoch-aligned
    # periods) only change at its period boundaries: stepping by the periods' gcd gives the same
    # transitions at the same times with a fraction of the work.
    step_s = max(math.gcd(*(a.period for a in metric)) if metric else 60, 60)
    # Where no data lies within `tail` before a step, every evaluation range is empty and no
    # state can change: jump to the next data (long gaps or a stray timestamp years away cost
    # nothing). Work is bounded by the minutes that have data, not by the span.
    data = sorted(
        {minute // 1000 for minute, _ in aggregator.minutes}
        | {m // 1000 for m in aggregator.malformed_minutes}
    )
    at_s = int(period_start(start.timestamp(), step_s)) + step_s
    while True:
        index = bisect.bisect_left(data, at_s - tail)
        if index == len(data):
            break
        if data[index] > at_s:
            at_s = int(period_start(data[index], step_s)) + step_s
            continue
        evaluator.evaluate(datetime.fromtimestamp(at_s, UTC))
        at_s += step_s
    open_episodes: dict[str, dict[str, Any]] = {}
    for change in evaluator.history:
        if change.current.value == ALARM:
            episode = {
                "alarm": change.alarm,
                "fired_at": change.current.timestamp.isoformat().replace("+00:00", "Z"),
                "resolved_at": None,
                "reason": change.current.reason,
            }
            open_episodes[change.alarm] = episode
            result.episodes.append(episode)
        elif change.previous.value == ALARM and change.alarm in open_episodes:
            open_episodes.pop(change.alarm)["resolved_at"] = change.current.timestamp.isoformat().replace(
                "+00:00", "Z"
            )
    result.evaluator = evaluator
    result.start, result.end = start, end
    return result


# ---------------------------------------------------------------------------------- log volume
class LogVolume:
    """What the invocation records weigh in CloudWatch Logs: every record's bytes, and — from one
    record in SAMPLE_EVERY — the share that is prompt and response bodies (what text delivery
    off would not log) and how well it compresses (what S3 delivery stores)."""

    SAMPLE_EVERY: Final = 200

    def __init__(self) -> None:
        self.records = 0
        self.bytes = 0
        self.sampled = 0
        self.sampled_bytes = 0
        self.sampled_metadata_bytes = 0
        self.sampled_gzip_bytes = 0

    def add(self, message: bytes | str) -> None:
        data = message if isinstance(message, bytes) else message.encode()
        if not data.startswith(b'{"schemaType"') and b'"ModelInvocationLog"' not in data[:200]:
            return
        self.records += 1
        self.bytes += len(data)
        if self.records % self.SAMPLE_EVERY != 1:
            return
        try:
            record = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(record, dict):
            return
        for section, body in (("input", "inputBodyJson"), ("output", "outputBodyJson")):
            part = record.get(section)
            if isinstance(part, dict):
                part.pop(body, None)
        self.sampled += 1
        self.sampled_bytes += len(data)
        self.sampled_metadata_bytes += len(orjson.dumps(record))
        self.sampled_gzip_bytes += len(zlib.compress(data, 6))

    @property
    def metadata_share(self) -> float:
        return self.sampled_metadata_bytes / self.sampled_bytes if self.sampled_bytes else 1.0

    @property
    def gzip_share(self) -> float:
        return self.sampled_gzip_bytes / self.sampled_bytes if self.sampled_bytes else 1.0


def cost_section(aggregator: Aggregator, volume: LogVolume | None) -> dict[str, Any] | None:
    """What these logs' traffic would pay for bedrock-watch, and what their logging costs, per month
    at the rate of the logs' span (sandbox.fleet_cost)."""
    from sandbox import fleet_cost

    records = aggregator.counts["records"]
    if not records or aggregator.first_ms is None or aggregator.last_ms is None or volume is None:
        return None
    # the minutes covered, at least ten: a rate from a few seconds of logs would mean nothing
    span_hours = max((aggregator.last_ms - aggregator.first_ms) / 3_600_000 + 1 / 60, 1 / 6)
    per_day = records / span_hours * 24
    models = max(len(aggregator.models), 1)
    applications = max(len(aggregator.applications), 1)
    pairs = min(max(len(aggregator.usage), 1), models * applications)  # (application, model) that called
    fleet = fleet_cost.Fleet("your logs", models, applications, pairs, per_day)
    bills = {level: fleet_cost.estimate(fleet, {"MetricDetail": level}) for level in ("lean", "full")}
    bytes_per_day = volume.bytes / span_hours * 24
    records_per_day = volume.records / span_hours * 24
    logging = fleet_cost.bedrock_logging_costs(
        bytes_per_day,
        records_per_day,
        metadata_bytes_per_record=volume.bytes * volume.metadata_share / max(volume.records, 1),
        gzip_share=volume.gzip_share,
    )
    return {
        "span_hours": round(span_hours, 3),
        "requests_per_day": round(per_day),
        "models": models,
        "applications": applications,
        "active_pairs": pairs,
        "bedrock_watch": {
            level: {
                "usd_per_month": round(e.bill.total, 2),
                "distinct_custom_metrics": round(e.distinct_metrics),
                "lines": {line.item: round(line.usd, 2) for line in e.bill.lines if round(line.usd, 2)},
            }
            for level, e in bills.items()
        },
        "invocation_logging": {
            "gb_per_month": round(bytes_per_day * fleet_cost.DAYS_PER_MONTH / fleet_cost.GB, 3),
            "cloudwatch_logs_usd_per_month": round(logging["cloudwatch_logs_as_logged"], 2),
            "text_delivery_off_usd_per_month": round(logging["text_delivery_off"], 2),
            "s3_delivery_usd_per_month": round(logging["s3_delivery"], 2),
            "body_share": round(1 - volume.metadata_share, 3),
        },
    }


# ---------------------------------------------------------------------------------- the report
@dataclass
class Report:
    files: list[str]
    lines: int
    aggregator: Aggregator
    backtest: Backtest
    seconds: float
    unresolved_profiles: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # file -> why it was not (fully) read
    volume: LogVolume | None = None

    def as_dict(self) -> dict[str, Any]:
        """The `--json` document (schema_version 1)."""
        agg = self.aggregator

        def iso(ms: int | None) -> str | None:
            return (
                None
                if ms is None
                else datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")
            )

        return {
            "schema_version": SCHEMA_VERSION,
            "files": self.files,
            "lines": self.lines,
            "records": agg.counts["records"],
            "duplicates": agg.counts["duplicates"],
            "skipped_lines": agg.counts["skipped"],
            "malformed": {
                "total": sum(agg.malformed_reasons.values()),
                "reasons": dict(agg.malformed_reasons.most_common()),
            },
            "unresolved_profiles": self.unresolved_profiles,
            "refused_files": [{"file": name, "problem": why} for name, why in self.refused.items()],
            "costs": cost_section(agg, self.volume),
            "span": {"first_minute": iso(agg.first_ms), "last_minute": iso(agg.last_ms)},
            "percentile_relative_error": DEFAULT_RELATIVE_ERROR,
            "totals": agg.totals.summary(),
            "models": {name: agg.models[name].summary() for name in sorted(agg.models)},
            "applications": {name: agg.applications[name].summary() for name in sorted(agg.applications)},
            "backtest": {
                "evaluated": self.backtest.evaluated,
                "approximated": self.backtest.approximated,
                "skipped": [
                    {"alarm": name, "reason": reason} for name, reason in self.backtest.skipped.items()
                ],
                "fired": self.backtest.episodes,
            },
        }


def _load_json_option(path: str | None, flag: str) -> dict[str, Any]:
    if not path:
        return {}
    try:
        value = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ReportError(f"{flag} {path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{flag} {path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(value, dict):
        raise ReportError(f"{flag} {path}: must hold a JSON object")
    return value


DAY_MS = 86_400_000


def savings(
    report: Report, book: PriceBook, routes: Iterable[RouteModels], batch_applications: Iterable[str]
) -> list[ApplicationSavings]:
    """Where the savings are, per application, from the report's sums (estimates)."""
    usage = {
        key: Usage(
            int(f.sums["InputTokens"]),
            int(f.sums["CacheReadInputTokens"]),
            int(f.sums["CacheWriteInputTokens"]),
            int(f.sums["OutputTokens"]),
            float(f.sums["CostUSD"]),
        )
        for key, f in report.aggregator.usage.items()
    }
    return estimate(book, usage, routes, batch_applications)


def bill_drift(report: Report, bill: Sequence[BillLine]) -> list[BillCheck]:
    """The bill check's comparison for every day both the logs and the bill cover."""
    per_day: dict[date, dict[str, float]] = defaultdict(dict)
    for (day_index, model), usd in report.aggregator.daily_cost.items():
        day = datetime.fromtimestamp(day_index * DAY_MS / 1000, UTC).date()
        per_day[day][model] = per_day[day].get(model, 0.0) + usd
    days = sorted(set(per_day) & {line.day for line in bill})
    return [compare(day, bill, per_day[day], sum(per_day[day].values())) for day in days]


def routes_option(path: str | None) -> list[RouteModels]:
    """`--routes FILE`: the Routes parameter's JSON (route -> {primary, fallbacks, cheaper}), read
    by the stack's own parser, so the report accepts exactly the routes a deployment would."""
    raw = _load_json_option(path, "--routes")
    try:
        specs = {str(name): parse_spec(str(name), route) for name, route in raw.items()}
    except InvalidRoute as err:
        raise ReportError(f"--routes {path}: {err}") from None
    return [RouteModels(name, (s.primary, *s.fallbacks), s.cheaper) for name, s in specs.items()]


def render_savings_document(rows: Sequence[Mapping[str, Any]]) -> str:
    """The savings table of the report document (every figure an estimate)."""

    def usd(value: Any) -> str:
        return "-" if value is None else f"{float(value):,.4f}"

    table = _table(
        ["application", "spend USD", "on cheaper variant", "saving", "batch saving", "cache-miss premium"],
        [
            [
                r["application"],
                usd(r["spend_usd"]),
                usd(r["cheaper_variant_usd"])
                + (f" ({', '.join(r['cheaper_routes'])})" if r["cheaper_routes"] else ""),
                usd(r["cheaper_variant_saving_usd"]),
                usd(r["batch_saving_usd"]),
                usd(r["cache_miss_usd"]),
            ]
            for r in rows
        ],
    )
    return (
        "\nWhere the savings are (estimates, priced by the meter's price code)\n"
        + table
        + "\n"
        + "cheaper variant: the application's traffic on a route's primary or fallbacks, at the route's\n"
        "cheaper model (--routes); batch: --batch-applications at the batch rate; cache-miss premium:\n"
        "cache writes priced over what cache reads would have cost.\n"
    )


def render_drift_document(checks: Sequence[Mapping[str, Any]]) -> str:
    """Meter vs the bill, per day and family, from the report document."""
    rows = []
    for check in checks:
        for family, drift in check["drifts"].items():
            percent = drift["percent"]
            rows.append(
                [
                    check["day"],
                    family,
                    f"{drift['metered_usd']:,.4f}",
                    f"{drift['billed_usd']:,.4f}",
                    "-" if percent is None else f"{percent:+.2f} %",
                ]
            )
        for kind, usd in sorted(check["outside_meter_usd"].items()):
            rows.append([check["day"], f"({kind})", "-", f"{usd:,.4f}", "outside the meter"])
    if not rows:
        return "\nMeter vs the bill: no day is in both the logs and the bill\n"
    return "\nMeter vs the bill (Cost Explorer export)\n" + _table(
        ["day", "family", "metered USD", "billed USD", "drift"], rows
    )


def settings_for(
    profile_map: str | None = None, price_overrides: str | None = None, max_applications: int = 50
) -> MeteringSettings:
    """Metering settings as the function would have them, from the report's option files."""
    if max_applications < 1:
        raise ReportError(f"--max-applications must be at least 1, got {max_applications}")
    profiles = _load_json_option(profile_map, "--profile-map")
    if not all(isinstance(v, str) for v in profiles.values()):
        raise ReportError(f"--profile-map {profile_map}: must map profile ARN -> model id strings")
    return MeteringSettings(
        price_overrides=_load_json_option(price_overrides, "--price-overrides"),
        profile_map=profiles,
        max_applications=max_applications,
    )


def build_report(
    paths: Sequence[str | Path],
    settings: MeteringSettings | None = None,
    *,
    progress: IO[str] | None = None,
    template: Mapping[str, Any] | None = None,
) -> Report:
    """Stream every line of `paths` through the metering code and backtest the alarms."""
    settings = settings or MeteringSettings()
    started = time.monotonic()
    files = log_files(paths)
    metric, composite, skipped, approximated = plan_backtest(settings.namespace, template)
    minute_dims: set[Dimensions] = set()
    sketched: set[str] = {"Latency"}  # charted even when no alarm asks for a percentile of it
    percentile_periods: list[int] = []
    for alarm in metric:
        for query in alarm.queries:
            if query.metric is not None:
                minute_dims.add(query.metric.dimensions)
                if query.stat and percentile_of(query.stat) is not None:
                    sketched.add(query.metric.name)
                    percentile_periods.append(alarm.period)
    sketch_period = max(math.gcd(*percentile_periods), 60) if percentile_periods else 300
    aggregator = Aggregator(settings.namespace, minute_dims, sketched, sketch_period)
    profiles = OfflineProfiles()
    meter = Meter.from_settings(settings, bedrock_client=profiles)
    position = _Position()
    bar = Progress(sum(f.stat().st_size for f in files), progress)
    lines = 0
    chunk: list[dict[str, Any]] = []
    last_timestamp: int | None = None
    volume = LogVolume()
    refused: dict[str, str] = {}
    readable: list[str] = []

    def fold() -> None:
        nonlocal chunk
        if chunk:
            aggregator.fold(meter.collect_log_events(chunk, now_ms=last_timestamp))
            chunk = []

    for path in files:
        records_before = aggregator.counts["records"] + aggregator.counts["duplicates"]
        lines_before = lines
        problem: str | None = None
        try:
            for raw in _file_lines(path, position):
                line = raw.strip()
                if not line:
                    continue
                lines += 1
                timestamp, message = log_event(line)
                volume.add(message)
                if timestamp is None:
                    # Rare: nothing on the line dates it, so it cannot be placed in a minute (nor
                    # stretch the span back to 1970). Counted here with the metering code's verdict.
                    verdict = parse_line(message, timestamp_ms=0)
                    if isinstance(verdict, Malformed):
                        aggregator.malformed(verdict.reason, last_timestamp)
                    elif isinstance(verdict, InvocationRecord):
                        aggregator.malformed("record without a timestamp", last_timestamp)
                    else:
                        aggregator.counts["skipped"] += 1
                    continue
                last_timestamp = timestamp
                chunk.append({"timestamp": timestamp, "message": message})
                if len(chunk) >= CHUNK_LINES:
                    fold()
                    bar.update(lines, position.now())
        except UnreadableFile as err:
            problem = str(err)
        except OSError as err:
            problem = f"cannot be read ({err.strerror or err})"
        fold()  # per file, so each file's records are known
        records = aggregator.counts["records"] + aggregator.counts["duplicates"] - records_before
        if problem is None and not records:
            file_lines = lines - lines_before
            problem = (
                "is empty"
                if not file_lines
                else f"holds no invocation records ({file_lines:,} lines, none a Bedrock invocation record)"
            )
        if problem is not None:
            refused[str(path)] = problem
        if records:
            readable.append(str(path))
    bar.update(lines, position.now(), final=True)
    if not readable:
        problems = "; ".join(f"{name}: {why}" for name, why in refused.items())
        raise ReportError(problems or "no invocation-log files found")
    backtest = run_backtest(aggregator, metric, composite, skipped, approximated)
    return Report(
        [str(f) for f in files],
        lines,
        aggregator,
        backtest,
        time.monotonic() - started,
        sorted(profiles.unresolved),
        refused,
        volume,
    )


# ---------------------------------------------------------------------------------- text output
def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    out = []
    for n, row in enumerate(cells):
        out.append(
            "  ".join(
                c.rjust(w) if i and (n == 0 or _NUMERIC.match(c)) else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


_NUMERIC = re.compile(r"^[-\d.,/]+$")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 10 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


GROUP_HEADERS: Final = (
    "requests",
    "errors",
    "input",
    "output",
    "cache read",
    "cache write",
    "cost USD",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "latency n",
)


def group_rows(groups: Mapping[str, Mapping[str, Any]]) -> list[list[Any]]:
    """One row per group (after its name) under GROUP_HEADERS; shared by the text and HTML reports."""
    rows = []
    for name, g in groups.items():
        lat = g["latency_ms"]
        tokens = g["tokens"]
        rows.append(
            [
                name,
                g["requests"],
                g["errors"],
                tokens["input"],
                tokens["output"],
                tokens["cache_read"],
                tokens["cache_write"],
                round(g["cost_usd"], 4),
                lat["p50"],
                lat["p95"],
                lat["p99"],
                f"{lat['count']}/{g['requests']}",
            ]
        )
    return rows


def error_class_table(groups: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """(class names that occur, one row per group with errors: name then a count per class)."""
    classes = [c for c in ERROR_CLASSES if any(g["error_classes"].get(c) for g in groups.values())]
    rows = [
        [name, *(g["error_classes"].get(c, 0) for c in classes)] for name, g in groups.items() if g["errors"]
    ]
    return classes, rows


def cost_lines(costs: Mapping[str, Any]) -> list[str]:
    """The report's "what it costs" paragraph."""
    lean, full = costs["bedrock_watch"]["lean"], costs["bedrock_watch"]["full"]
    logging = costs["invocation_logging"]
    as_logged = logging["cloudwatch_logs_usd_per_month"]
    off, s3 = logging["text_delivery_off_usd_per_month"], logging["s3_delivery_usd_per_month"]
    return [
        f"What it costs, per month at the rate of these logs ({costs['requests_per_day']:,} requests a day "
        f"from {costs['span_hours']:.2g} h; {costs['models']} models, {costs['applications']} applications, "
        f"{costs['active_pairs']} model x application pairs):",
        f"  bedrock-watch deployed for this traffic: ${lean['usd_per_month']:,.2f} "
        f"(MetricDetail=lean, {lean['distinct_custom_metrics']:,} custom metrics; full: "
        f"${full['usd_per_month']:,.2f}, {full['distinct_custom_metrics']:,} metrics) — "
        "`bedrock-watch cost` for the breakdown",
        f"  your invocation logging into CloudWatch Logs: ${as_logged:,.2f} "
        f"({logging['gb_per_month']:,.2f} GB a month; {logging['body_share']:.0%} of it prompt and "
        "response bodies)",
        f"    with text delivery off: ${off:,.2f} (saves ${as_logged - off:,.2f}); bedrock-watch still "
        "meters tokens, cost and errors, not per-request latency (AWS/Bedrock InvocationLatency remains)",
        f"    to S3 instead: ${s3:,.2f} of storage (saves ${as_logged - s3:,.2f}); bedrock-watch reads "
        "CloudWatch Logs, so keep metadata delivery there",
    ]


def render_text(document: Mapping[str, Any]) -> str:
    """The human report printed to stdout."""
    d = document
    parts = [
        f"{d['lines']:,} lines from {len(d['files'])} file(s): {d['records']:,} records, "
        f"{d['malformed']['total']:,} malformed, {d['skipped_lines']:,} skipped, "
        f"{d['duplicates']:,} duplicates; "
        f"{d['span']['first_minute']} .. {d['span']['last_minute']}",
        "",
        "Per model",
        _table(("model", *GROUP_HEADERS), group_rows(d["models"])),
        "",
        "Per application",
        _table(("application", *GROUP_HEADERS), group_rows(d["applications"])),
        "",
        _table(("all traffic", *GROUP_HEADERS), group_rows({"total": d["totals"]})),
        f"(percentiles within {d['percentile_relative_error']:.0%}; latency n = requests with a latency)",
    ]
    for label, groups in (("model", d["models"]), ("application", d["applications"])):
        classes, rows = error_class_table(groups)
        if rows:
            parts += ["", f"Errors by class, per {label}", _table((label, *classes), rows)]
    if d["unresolved_profiles"]:
        parts += ["", "Application inference profiles not in --profile-map (their requests are unpriced):"]
        parts += [f"  {arn}" for arn in d["unresolved_profiles"]]
    if d["malformed"]["reasons"]:
        parts += ["", "Malformed lines", _table(("reason", "lines"), list(d["malformed"]["reasons"].items()))]
    if d.get("refused_files"):
        parts += ["", "Files not read (or only in part)"]
        parts += [f"  {r['file']}: {r['problem']}" for r in d["refused_files"]]
    if d.get("costs"):
        parts += ["", *cost_lines(d["costs"])]
    bt = d["backtest"]
    parts += ["", f"Alarm backtest: {len(bt['evaluated'])} alarms evaluated, {len(bt['skipped'])} skipped"]
    if bt["fired"]:
        parts.append(
            _table(
                ("alarm", "fired at", "resolved at"),
                [[e["alarm"], e["fired_at"], e["resolved_at"] or "still in ALARM"] for e in bt["fired"]],
            )
        )
        for e in bt["fired"]:
            parts.append(f"  {e['alarm']}: {e['reason']}")
    else:
        parts.append("  no alarm would have fired")
    if bt["approximated"]:
        parts += [f"  approximated: {name}: {why}" for name, why in bt["approximated"].items()]
    if bt["skipped"]:
        parts.append("Skipped alarms")
        parts.append(_table(("alarm", "why"), [[s["alarm"], s["reason"]] for s in bt["skipped"]]))
    return "\n".join(parts) + "\n"
