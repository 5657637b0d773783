"""Meter one CloudWatch Logs subscription delivery of Bedrock invocation records (FACTS §2).

decode the envelope → parse every message → drop the setup line and duplicates → resolve
application inference profiles → price → guard the Application dimension → aggregate per
(minute, model, application) → EMF lines and a summary of counts (never any record content).

A bad envelope raises EnvelopeError so the asynchronous invoke is retried and then lands in the
on-failure queue; a bad record never raises: it is counted as MalformedRecords with its reason.
A delivery that decompresses past MAX_DECOMPRESSED_BYTES (a gzip bomb: 258 KB can inflate to
~500 MB) is cut off there, never inflated in full, and counted as one malformed delivery with the
reason: retrying it would only fail again.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import orjson

from bedrock_watch.budgets import parse_application_budgets
from bedrock_watch.config import env_int, env_json, env_str
from bedrock_watch.contract import (
    DEFAULT_METRIC_DETAIL,
    DIMENSION_APPLICATION,
    METRIC_DETAIL_LEVELS,
    OTHER_APPLICATION,
    UNATTRIBUTED,
)
from bedrock_watch.emf import MINUTE_MS, TIER_AS_REQUESTED, EmfWriter, Series, SeriesKey, minute_of
from bedrock_watch.errors import BedrockWatchError, ConfigurationError
from bedrock_watch.pricesync import PriceDocumentStore, PriceSource
from bedrock_watch.pricing import PriceBook, tokens_usd
from bedrock_watch.profiles import ProfileResolver
from bedrock_watch.records import GUARDRAIL_STOP_REASONS, InvocationRecord, ModelKind, RecordRow, read_events

GZIP_WBITS: Final = 16 + zlib.MAX_WBITS  # zlib's gzip mode: one member, faster than the gzip module
# The largest delivery the bench can build inside Lambda's 1 MB event decompresses to ~9.4 MB and
# peaks at ~46 MB RSS (about 3 MB of memory per MB inflated, on top of ~19 MB after import);
# twice that is still well inside a 128 MB function, and a bomb stops here (docs/decisions.md).
MAX_DECOMPRESSED_BYTES: Final = 20 * 1024 * 1024
OVERSIZED_REASON: Final = (
    f"delivery decompresses past {MAX_DECOMPRESSED_BYTES // (1024 * 1024)} MB: "
    "not a CloudWatch Logs batch (a gzip bomb?), dropped unread"
)
APPLICATION_MAX_LENGTH: Final = 64
# Context fields of the documents (not dimensions): bounded so a caller minting a new session
# name per call cannot multiply the documents (bytes) without limit.
MAX_ROUTES: Final = 200
MAX_IDENTITIES: Final = 500
IDENTITY_MAX_LENGTH: Final = 256
_UNSAFE_APPLICATION_CHARS = re.compile(r"[^A-Za-z0-9._:/@+=-]+")
# An enum member read through its class costs a metaclass lookup; the hot path reads a constant.
_APPLICATION_PROFILE: Final = ModelKind.APPLICATION_PROFILE
logger = logging.getLogger(__name__)


class EnvelopeError(BedrockWatchError):
    """The event is not a decodable CloudWatch Logs subscription delivery (base64 → gzip → JSON)."""


class DeliveryTooLarge(EnvelopeError):
    """The delivery inflates past MAX_DECOMPRESSED_BYTES; counted as malformed, not retried."""


@dataclass(frozen=True, slots=True)
class MeteringSettings:
    """What the metering function is configured with (stack parameters, via the environment)."""

    namespace: str = "BedrockWatch"
    application_key: str = "application"
    max_applications: int = 50
    price_overrides: Mapping[str, Any] = field(default_factory=dict)
    profile_map: Mapping[str, str] = field(default_factory=dict)
    metric_detail: str = DEFAULT_METRIC_DETAIL  # which dimension sets are billed metrics (contract)
    # Count applications across the fleet's containers (ListMetrics), not per container only.
    fleet_guard: bool = False
    # ApplicationBudgets' names: always admitted, a budget must never meter into `other`.
    budgeted_applications: frozenset[str] = frozenset()
    price_document_bucket: str = ""  # where the price sync keeps its document; "" = shipped table only
    price_refresh_seconds: int = 3600

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MeteringSettings:
        """Settings from METRICS_NAMESPACE, METRIC_DETAIL, APPLICATION_METADATA_KEY, MAX_APPLICATIONS,
        APPLICATION_GUARD_SCOPE (`fleet` or `container`), APPLICATION_BUDGETS, PRICE_OVERRIDES,
        INFERENCE_PROFILE_MAP, PRICE_DOCUMENT_BUCKET and PRICE_REFRESH_SECONDS; ConfigurationError
        names a bad variable."""
        overrides = env_json("PRICE_OVERRIDES", {}, environ)
        profile_map = env_json("INFERENCE_PROFILE_MAP", {}, environ)
        if not isinstance(overrides, dict):
            raise ConfigurationError("environment variable PRICE_OVERRIDES must be a JSON object")
        if not isinstance(profile_map, dict) or not all(isinstance(v, str) for v in profile_map.values()):
            raise ConfigurationError(
                "environment variable INFERENCE_PROFILE_MAP must be a JSON object of profile ARN -> model id"
            )
        detail = env_str("METRIC_DETAIL", DEFAULT_METRIC_DETAIL, environ)
        if detail not in METRIC_DETAIL_LEVELS:
            raise ConfigurationError(
                f"environment variable METRIC_DETAIL must be one of {', '.join(METRIC_DETAIL_LEVELS)}, "
                f"got {detail!r}"
            )
        # The budget guard's own parser: the meter must admit exactly the names it pages for.
        budgets = parse_application_budgets(env_str("APPLICATION_BUDGETS", "{}", environ))
        return cls(
            namespace=env_str("METRICS_NAMESPACE", "BedrockWatch", environ),
            metric_detail=detail,
            fleet_guard=env_str("APPLICATION_GUARD_SCOPE", "container", environ) == "fleet",
            budgeted_applications=frozenset(budgets),
            application_key=env_str("APPLICATION_METADATA_KEY", "application", environ),
            max_applications=env_int("MAX_APPLICATIONS", 50, minimum=1, environ=environ),
            price_overrides=overrides,
            profile_map=profile_map,
            price_document_bucket=(environ if environ is not None else os.environ).get(
                "PRICE_DOCUMENT_BUCKET", ""
            ),
            price_refresh_seconds=env_int("PRICE_REFRESH_SECONDS", 3600, minimum=60, environ=environ),
        )


@dataclass(slots=True)
class BatchSummary:
    """Counts describing one batch; safe to log (no record content)."""

    log_events: int = 0
    records: int = 0
    duplicates: int = 0
    skipped: int = 0
    malformed: int = 0
    malformed_reasons: dict[str, int] = field(default_factory=dict)
    unpriced: int = 0
    tier_as_requested: int = 0  # priced at the requested tier: the record logged no served tier
    documents: int = 0
    emf_bytes: int = 0
    clamped_timestamps: int = 0
    control_message: bool = False
    prices: str = "shipped"  # the price document in use: "shipped", or "synced <time>"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class MeteringResult:
    emf: str  # newline-terminated EMF documents, empty when there is nothing to publish
    summary: BatchSummary


def decode_envelope(event: Mapping[str, Any]) -> dict[str, Any]:
    """The decoded subscription payload (`messageType`, `logEvents`, …) or EnvelopeError saying
    which layer (awslogs.data, base64, gzip, JSON, shape) is wrong."""
    try:
        data = event["awslogs"]["data"]
    except (KeyError, TypeError):
        raise EnvelopeError(
            "event has no awslogs.data: not a CloudWatch Logs subscription delivery"
        ) from None
    if not isinstance(data, str | bytes):
        raise EnvelopeError("awslogs.data is not a string")
    try:
        compressed = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError("awslogs.data is not valid base64") from None
    inflater = zlib.decompressobj(GZIP_WBITS)
    try:
        # One C call as zlib.decompress would make, but stopping one byte past the cap.
        raw = inflater.decompress(compressed, MAX_DECOMPRESSED_BYTES + 1)
    except zlib.error:
        raise EnvelopeError("awslogs.data is not gzip-compressed") from None
    if len(raw) > MAX_DECOMPRESSED_BYTES:
        raise DeliveryTooLarge(OVERSIZED_REASON)
    if not inflater.eof:
        raise EnvelopeError("awslogs.data is not gzip-compressed (truncated stream)")
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise EnvelopeError("awslogs.data does not hold a JSON document") from None
    if not isinstance(payload, dict) or payload.get("messageType") not in ("DATA_MESSAGE", "CONTROL_MESSAGE"):
        raise EnvelopeError("payload has no messageType DATA_MESSAGE or CONTROL_MESSAGE")
    if payload["messageType"] == "DATA_MESSAGE" and not isinstance(payload.get("logEvents"), list):
        raise EnvelopeError("DATA_MESSAGE payload has no logEvents list")
    return payload


class FleetApplications:
    """The application names the whole fleet already publishes: `CostUSD` per `Application`
    metrics active in the last 3 hours (ListMetrics), read at most every REFRESH_SECONDS.

    The CloudWatch client is created on first need (boto3 stays out of the handler's import);
    a failed read is logged and the last known set kept, so the guard falls back to counting
    what this container has seen."""

    REFRESH_SECONDS: Final = 600

    def __init__(self, namespace: str, client: Any = None, clock: Any = time.monotonic) -> None:
        self.namespace = namespace
        self.client = client
        self.clock = clock
        self.names: frozenset[str] = frozenset()
        self.read_at: float | None = None

    def current(self) -> frozenset[str]:
        now = self.clock()
        if self.read_at is not None and now - self.read_at < self.REFRESH_SECONDS:
            return self.names
        self.read_at = now
        try:
            if self.client is None:
                import boto3

                self.client = boto3.client("cloudwatch")
            names = set()
            pages = self.client.get_paginator("list_metrics").paginate(
                Namespace=self.namespace,
                MetricName="CostUSD",
                Dimensions=[{"Name": DIMENSION_APPLICATION}],
                RecentlyActive="PT3H",
            )
            for page in pages:
                for metric in page.get("Metrics", []):
                    dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                    if dims.keys() == {DIMENSION_APPLICATION}:
                        names.add(dims[DIMENSION_APPLICATION])
            self.names = frozenset(names - {UNATTRIBUTED, OTHER_APPLICATION})
        except Exception as err:  # any failure: keep counting locally, and say so
            logger.warning("could not list the fleet's applications, counting this container's: %s", err)
        return self.names


_NOTHING_PUBLISHED: frozenset[str] = frozenset()


class ApplicationGuard:
    """Bounds the Application dimension: sanitised names, at most `limit` distinct ones (counted
    with the fleet's when `fleet` is given), then `other`. Absent or empty names are
    `unattributed` (neither counts); `reserved` names (budgeted applications) are always admitted."""

    def __init__(
        self, limit: int, fleet: FleetApplications | None = None, reserved: frozenset[str] = frozenset()
    ) -> None:
        self.limit = limit
        self.fleet = fleet
        self.reserved = reserved
        self._seen: set[str] = set()
        # raw value -> dimension value, for values already decided; the meter's hot path reads
        # it directly and calls the guard only for a name it has not seen.
        self.known: dict[str, str] = {}

    def __call__(self, raw: str | None) -> str:
        if not raw:
            return UNATTRIBUTED
        known = self.known.get(raw)
        if known is not None:
            return known
        name = _UNSAFE_APPLICATION_CHARS.sub("_", raw.strip())[:APPLICATION_MAX_LENGTH].strip("_")
        if not name:
            name = UNATTRIBUTED
        elif name not in (UNATTRIBUTED, OTHER_APPLICATION) and name not in self._seen:
            if name not in self.reserved:
                published = self.fleet.current() if self.fleet is not None else _NOTHING_PUBLISHED
                # the union (a copy of the set) only when the fleet publishes names beside ours
                if name not in published and (
                    len(self._seen) >= self.limit or (published and len(self._seen | published) >= self.limit)
                ):
                    # Not remembered: a flood of random names must not grow this map without bound.
                    return OTHER_APPLICATION
            self._seen.add(name)
        self.known[raw] = name
        return name


class ContextGuard:
    """Bounds a context field of the EMF documents (Route, Identity): they are never dimensions,
    so they cost no metric, but each distinct value splits series into more documents (bytes are
    ingestion cost). At most `limit` distinct values per container, then `other`; values are
    cut to `max_length` characters and, with `sanitise`, to the application name alphabet."""

    def __init__(self, limit: int, max_length: int, *, sanitise: bool) -> None:
        self.limit = limit
        self.max_length = max_length
        self.sanitise = sanitise
        self.known: dict[str, str] = {}

    def __call__(self, raw: str) -> str:
        known = self.known.get(raw)
        if known is not None:
            return known
        if len(self.known) >= self.limit:
            return OTHER_APPLICATION
        value = raw.strip()
        if self.sanitise:
            value = _UNSAFE_APPLICATION_CHARS.sub("_", value).strip("_")
        value = value[: self.max_length] or OTHER_APPLICATION
        self.known[raw] = value
        return value


@dataclass(slots=True)
class MeteredBatch:
    """One batch metered but not yet rendered: series per (minute, model, application), the
    batch's counts and its malformed records per minute and reason."""

    now_ms: int
    summary: BatchSummary = field(default_factory=BatchSummary)
    series: dict[SeriesKey, Series] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    malformed_per_minute: Counter[int] = field(default_factory=Counter)
    malformed_reasons: Counter[str] = field(default_factory=Counter)

    def malformed(self, timestamp_ms: int, reason: str) -> None:
        self.malformed_per_minute[minute_of(timestamp_ms)] += 1
        self.malformed_reasons[reason] += 1


class Meter:
    """The metering pipeline with its per-container state (prices, profile cache, application guard)."""

    def __init__(
        self,
        settings: MeteringSettings,
        price_book: PriceBook,
        resolver: ProfileResolver,
        cloudwatch_client: Any = None,
        prices: PriceSource | None = None,
    ) -> None:
        self.settings = settings
        self.price_book = price_book
        self.prices = prices  # the synced price document, re-read when due (None: price_book only)
        self.resolver = resolver
        fleet = FleetApplications(settings.namespace, cloudwatch_client) if settings.fleet_guard else None
        self.applications = ApplicationGuard(
            settings.max_applications, fleet, reserved=settings.budgeted_applications
        )
        self.routes = ContextGuard(MAX_ROUTES, APPLICATION_MAX_LENGTH, sanitise=True)
        self.identities = ContextGuard(MAX_IDENTITIES, IDENTITY_MAX_LENGTH, sanitise=False)
        # Bound look-ups of the values already decided: one attribute read per record on the hot path.
        self._known_application = self.applications.known.get
        self.writer = EmfWriter(settings.namespace, settings.metric_detail)

    @classmethod
    def from_settings(
        cls, settings: MeteringSettings, bedrock_client: Any = None, cloudwatch_client: Any = None
    ) -> Meter:
        """A meter with the shipped price table, the synced price document (read on first use)
        and the overrides, and a profile resolver."""
        store = PriceDocumentStore(settings.price_document_bucket) if settings.price_document_bucket else None
        prices = PriceSource(store, settings.price_overrides, refresh_seconds=settings.price_refresh_seconds)
        return cls(
            settings,
            prices.book,
            ProfileResolver(settings.profile_map, client=bedrock_client),
            cloudwatch_client,
            prices,
        )

    def meter_event(self, event: Mapping[str, Any], *, now_ms: int | None = None) -> MeteringResult:
        """Meter one subscription delivery (`{"awslogs": {"data": …}}`)."""
        try:
            payload = decode_envelope(event)
        except DeliveryTooLarge as err:
            batch = MeteredBatch(int(time.time() * 1000) if now_ms is None else now_ms)
            batch.malformed(batch.now_ms, str(err))
            return self._finish(batch)
        if self.prices is not None:
            self.price_book = self.prices.current()
        if payload["messageType"] == "CONTROL_MESSAGE":
            return MeteringResult("", BatchSummary(control_message=True))
        return self.meter_log_events(payload["logEvents"], now_ms=now_ms)

    def meter_log_events(
        self, log_events: Iterable[Mapping[str, Any]], *, now_ms: int | None = None
    ) -> MeteringResult:
        """Meter decoded log events (`{"timestamp": ms, "message": str}`)."""
        return self._finish(self.collect_log_events(log_events, now_ms=now_ms))

    def collect_log_events(
        self, log_events: Iterable[Mapping[str, Any]], *, now_ms: int | None = None
    ) -> MeteredBatch:
        """Meter decoded log events into series without rendering EMF (the sandbox's `report`
        folds these into its own bounded aggregates)."""
        batch = MeteredBatch(int(time.time() * 1000) if now_ms is None else now_ms)
        read = read_events(log_events, self.settings.application_key, batch.now_ms)
        for timestamp, reason in read.malformed:
            batch.malformed(timestamp, reason)
        batch.summary.log_events += read.events
        batch.summary.skipped += read.skipped
        self._aggregate(read.rows, batch)
        return batch

    def meter_records(
        self, records: Iterable[InvocationRecord], *, now_ms: int | None = None
    ) -> MeteringResult:
        """Meter records that are already parsed (the benchmark and tests use this)."""
        batch = MeteredBatch(int(time.time() * 1000) if now_ms is None else now_ms)
        records = list(records)
        batch.summary.log_events += len(records)
        self.add_records(records, batch)
        return self._finish(batch)

    def add_records(self, records: Iterable[InvocationRecord], batch: MeteredBatch) -> None:
        """Add parsed records to `batch`'s series, as the meter adds the lines it parses."""
        self._aggregate([record.row() for record in records], batch)

    def _finish(self, batch: MeteredBatch) -> MeteringResult:
        summary = batch.summary
        if self.prices is not None and self.prices.synced_at:
            summary.prices = f"synced {self.prices.synced_at}"
        if self.prices is not None and self.prices.error:
            summary.prices += f" (price document unreadable: {self.prices.error})"
        summary.malformed = sum(batch.malformed_reasons.values())
        summary.malformed_reasons = dict(batch.malformed_reasons)
        documents, summary.clamped_timestamps = self.writer.documents(
            batch.series, batch.malformed_per_minute, now_ms=batch.now_ms
        )
        emf = self.writer.render(documents)
        summary.documents = len(documents)
        summary.emf_bytes = len(emf)
        return MeteringResult(emf, summary)

    def _aggregate(self, rows: Iterable[RecordRow], batch: MeteredBatch) -> None:
        """Add each row to its series unless it repeats a request id already in the batch.

        The hot path of the function (once per record): each row is unpacked into locals in one
        step, keys are plain tuples, figures that are zero cost nothing, and the only per-record
        calls are the price look-up and its arithmetic (known application names are a dict
        lookup, not a guard call)."""
        summary = batch.summary
        series = batch.series
        find = series.get
        seen = batch.seen
        remember = seen.add
        price_of = self.price_book.price_of
        known_application = self._known_application
        resolve = self.resolver.resolve
        records = duplicates = unpriced = as_requested = 0
        for (
            request_id,
            timestamp,
            _operation,
            logged_model,
            region,
            _inference_region,
            raw_application,
            logged_input,
            cache_read,
            cache_write,
            one_hour,
            output_tokens,
            latency,
            ttft,
            stop,
            tier,
            error_code,
            error_cls,
            guardrail,
            tier_requested,
            route,
            identity,
        ) in rows:
            if request_id:
                if request_id in seen:
                    duplicates += 1
                    continue
                remember(request_id)
            records += 1
            model = resolve(logged_model) if logged_model.kind is _APPLICATION_PROFILE else logged_model
            input_tokens = logged_input
            application = (
                (known_application(raw_application) or self.applications(raw_application))
                if raw_application
                else UNATTRIBUTED
            )
            # Route and identity enter the key as logged; only a key not seen yet in this batch
            # goes through their guards (so the per-record cost is one tuple and one look-up). A
            # value the guards change (cut, or `other` past the cap) then costs a second look-up.
            key = (timestamp - timestamp % MINUTE_MS, model.base_id, application, route, identity)
            figures = find(key)
            if figures is None:
                key = (
                    key[0],
                    key[1],
                    application,
                    None if route is None else self.routes(route),
                    None if identity is None else self.identities(identity),
                )
                figures = find(key)
                if figures is None:
                    figures = series[key] = Series()
            sums = figures.sums
            sums["Requests"] += 1
            if error_code is not None:
                # Failed requests carry no bodies and are not billed: count the error and its class.
                sums["Errors"] += 1
                if error_cls is not None:
                    sums[error_cls.value] += 1
                if input_tokens or output_tokens:
                    sums["InputTokens"] += input_tokens
                    sums["OutputTokens"] += output_tokens
                    sums["TotalTokens"] += input_tokens + output_tokens
                continue  # and cost nothing (PriceBook.cost of a failed request is 0)
            price = price_of(model, region, tier)
            cost = None
            if price is not None:
                cost = tokens_usd(price, logged_input, cache_read, cache_write, one_hour, output_tokens)
                if cache_read and price.input_includes_cache_read:
                    # This model's logged input count already holds the cache reads: count them once.
                    input_tokens = logged_input - cache_read if logged_input > cache_read else 0
            sums["InputTokens"] += input_tokens
            sums["OutputTokens"] += output_tokens
            total = input_tokens + output_tokens
            if cache_read:
                sums["CacheReadInputTokens"] += cache_read
                total += cache_read
            if cache_write:
                sums["CacheWriteInputTokens"] += cache_write
                total += cache_write
            sums["TotalTokens"] += total
            if stop == "max_tokens":
                sums["TruncatedResponses"] += 1
            if guardrail or stop in GUARDRAIL_STOP_REASONS:
                sums["GuardrailInterventions"] += 1
            if cost is None:
                sums["UnpricedRequests"] += 1
                unpriced += 1
            else:
                sums["CostUSD"] += cost
            if tier_requested:
                # Priced at the tier the request asked for: no served tier was logged (an EMF property).
                properties = figures.properties
                properties[TIER_AS_REQUESTED] = properties.get(TIER_AS_REQUESTED, 0) + 1
                as_requested += 1
            if ttft is not None:  # whole milliseconds are ints already (records._millis)
                figures.samples["TimeToFirstToken"].append(ttft)
            if latency is not None:
                samples = figures.samples
                samples["Latency"].append(latency)
                generating_ms = latency - ttft if ttft is not None and ttft < latency else latency
                if output_tokens and generating_ms > 0:
                    samples["OutputTokensPerSecond"].append(round(output_tokens * 1000 / generating_ms, 1))
        summary.records += records
        summary.duplicates += duplicates
        summary.unpriced += unpriced
        summary.tier_as_requested += as_requested
