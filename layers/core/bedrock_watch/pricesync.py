"""Prices that stay current: the AWS Price List, read daily, checked against the shipped table.

`sync_prices` reads `pricing:GetProducts` for the Bedrock service codes (FACTS §11:
`AmazonBedrock` per 1K tokens, `AmazonBedrockFoundationModels` per 1M) in the stack's region,
turns each on-demand token price into a component of a shipped model entry (matched by the
Price List's `model` attribute against the entry's `name` or `price_list_model`), and compares
it with the shipped table — the floor of trust. A price within `max_ratio` of the shipped one
(either way) is applied; one further away is held for review and reported, never applied. A
product the table has no entry for is reported and left unpriced: the sync never invents a
model. The result is one price document (the shipped format: `regions`/`tiers` per model, each
entry with its source and read date) that `PriceDocumentStore` keeps in S3 and the metering
function merges over the shipped table (`PriceSource`).

GetProducts response (API reference): `{"FormatVersion": "aws_v1", "PriceList": [<JSON text>…],
"NextToken": …}`; each item is `{"product": {"sku", "attributes": {"regionCode", "model",
"inferenceType", "feature", "usagetype", …}}, "terms": {"OnDemand": {<term>: {"priceDimensions":
{<rate>: {"unit": "1K tokens", "pricePerUnit": {"USD": "0.0030000000"}}}}}}}`.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from bedrock_watch.config import aws_client, env_float, env_str
from bedrock_watch.contract import emf_metadata
from bedrock_watch.errors import BedrockWatchError
from bedrock_watch.pricing import RATE_FIELDS, PriceBook, RateSet, shipped_document

SERVICE_CODES: Final = ("AmazonBedrock", "AmazonBedrockFoundationModels")
# The Price List API answers in us-east-1 (also eu-central-1 and ap-south-1), whatever the stack's region.
PRICING_ENDPOINT_REGION: Final = "us-east-1"
DOCUMENT_KEY: Final = "prices/synced.json"
_UNITS: Final = {"1k tokens": 1000.0, "1m tokens": 1.0, "million tokens": 1.0, "1 million tokens": 1.0}
_TIERS: Final = ("priority", "flex")
_SKIP: Final = ("batch", "provisioned", "long context", "lctx", "cross-region", "reserved", "custom")
_ALNUM: Final = re.compile(r"[^a-z0-9]+")


class PriceSyncError(BedrockWatchError):
    """The Price List could not be read or the price document could not be stored."""


def _key(name: str) -> str:
    return _ALNUM.sub("", name.lower())


@dataclass(frozen=True, slots=True)
class ListedPrice:
    """One on-demand token price of the Price List, in USD per 1M tokens."""

    model: str  # the Price List's model name
    component: str  # one of RATE_FIELDS
    tier: str | None  # priority | flex | None (standard)
    usd_per_million: float
    sku: str
    service_code: str


def classify(inference_type: str) -> tuple[str, str | None] | None:
    """(component, tier) of a Price List `inferenceType`, or None for prices the meter does not
    use (batch, provisioned, long-context and cross-region variants: rules of the shipped entry)."""
    text = inference_type.lower()
    if any(word in text for word in _SKIP):
        return None
    tier = next((t for t in _TIERS if t in text), None)
    if "cache" in text and "read" in text:
        return "cache_read", tier
    if "cache" in text and "write" in text:
        one_hour = "1h" in text or "1-hour" in text or "1 hour" in text
        return ("cache_write_1h" if one_hour else "cache_write_5m"), tier
    if "input" in text:
        return "input", tier
    if "output" in text:
        return "output", tier
    return None


def listed_prices(items: Iterable[str | Mapping[str, Any]], service_code: str) -> Iterator[ListedPrice]:
    """The token prices in GetProducts' `PriceList` items (JSON text or parsed)."""
    for raw in items:
        item = json.loads(raw) if isinstance(raw, str) else raw
        product = item.get("product") or {}
        attributes = product.get("attributes") or {}
        model = attributes.get("model") or attributes.get("titanModel")
        classified = classify(str(attributes.get("inferenceType") or attributes.get("usagetype") or ""))
        if not model or classified is None:
            continue
        component, tier = classified
        for term in ((item.get("terms") or {}).get("OnDemand") or {}).values():
            for dimension in (term.get("priceDimensions") or {}).values():
                per_unit = _UNITS.get(str(dimension.get("unit", "")).strip().lower())
                usd = (dimension.get("pricePerUnit") or {}).get("USD")
                if per_unit is None or usd is None:
                    continue
                try:
                    value = float(usd) * per_unit
                except ValueError:
                    continue
                if math.isfinite(value) and value >= 0:
                    yield ListedPrice(
                        str(model), component, tier, value, str(product.get("sku", "")), service_code
                    )


def make_pricing_client() -> Any:
    """A Price List client (its endpoint is in us-east-1), standard retries."""
    return aws_client("pricing", PRICING_ENDPOINT_REGION)


def read_price_list(client: Any, region: str) -> list[ListedPrice]:
    """Every on-demand token price of `region` in both Bedrock service codes (all pages)."""
    from botocore.exceptions import BotoCoreError, ClientError

    prices: list[ListedPrice] = []
    for service_code in SERVICE_CODES:
        request: dict[str, Any] = {
            "ServiceCode": service_code,
            "Filters": [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}],
            "FormatVersion": "aws_v1",
            "MaxResults": 100,
        }
        try:
            while True:
                page = client.get_products(**request)
                prices.extend(listed_prices(page.get("PriceList", []), service_code))
                token = page.get("NextToken")
                if not token:
                    break
                request["NextToken"] = token
        except (ClientError, BotoCoreError) as err:
            raise PriceSyncError(f"pricing:GetProducts for {service_code} in {region} failed: {err}") from err
    return prices


@dataclass(frozen=True, slots=True)
class PriceChange:
    model: str
    component: str
    tier: str | None
    old: float | None
    new: float
    held: bool

    @property
    def ratio(self) -> float | None:
        return None if not self.old else self.new / self.old

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "component": self.component if self.tier is None else f"tiers.{self.tier}.{self.component}",
            "old": self.old,
            "new": self.new,
            "ratio": None if self.ratio is None else round(self.ratio, 4),
        }


@dataclass(slots=True)
class SyncResult:
    document: dict[str, Any]
    applied: list[PriceChange] = field(default_factory=list)
    held: list[PriceChange] = field(default_factory=list)
    unchanged: int = 0
    unknown_models: list[str] = field(default_factory=list)


# A shipped name's leading provider word is optional in the Price List's `model` ("Nova Pro").
_PROVIDER_WORDS: Final = frozenset(
    {"amazon", "anthropic", "meta", "mistral", "cohere", "ai21", "writer", "deepseek", "openai", "qwen"}
)


def _shipped_names(book: PriceBook) -> dict[str, str]:
    """Price List model name (normalised) -> base model id: the entry's `price_list_model`, its
    `name`, and its name without the provider word. A name two entries share maps to neither."""
    names: dict[str, str | None] = {}
    shipped = shipped_document()["models"]
    for model_id in book.entries():
        entry = shipped.get(model_id, {})
        candidates = [entry.get("price_list_model"), entry.get("name")]
        name = entry.get("name")
        if isinstance(name, str) and " " in name and name.split(" ", 1)[0].lower() in _PROVIDER_WORDS:
            candidates.append(name.split(" ", 1)[1])
        for candidate in candidates:
            if isinstance(candidate, str) and candidate:
                key = _key(candidate)
                names[key] = model_id if names.get(key, model_id) == model_id else None
    return {key: model_id for key, model_id in names.items() if model_id is not None}


def _old_value(book: PriceBook, model_id: str, region: str, component: str, tier: str | None) -> float | None:
    rates = book.entries()[model_id]
    if tier is not None:
        tier_rates = rates.tiers.get(tier)
        return None if tier_rates is None else getattr(tier_rates, component)
    standard = rates.standard
    regional = rates.regions.get(region)
    if regional is not None:
        standard = regional.over(standard)
    value: float | None = getattr(standard, component)
    return value


def build_document(
    prices: Iterable[ListedPrice], region: str, *, max_ratio: float, now: datetime
) -> SyncResult:
    """The synced price document for `region`, each listed price compared with the shipped one."""
    shipped = PriceBook.load()
    names = _shipped_names(shipped)
    today = now.date().isoformat()
    entries: dict[str, dict[str, Any]] = {}
    result = SyncResult(document={})
    unknown: set[str] = set()
    seen: set[tuple[str, str, str | None]] = set()
    for price in prices:
        model_id = names.get(_key(price.model))
        if model_id is None:
            unknown.add(price.model)
            continue
        slot = (model_id, price.component, price.tier)
        if slot in seen:
            continue  # the same price listed twice (two service codes, several SKUs)
        seen.add(slot)
        old = _old_value(shipped, model_id, region, price.component, price.tier)
        new = round(price.usd_per_million, 10)
        if old is not None and math.isclose(old, new, rel_tol=1e-9, abs_tol=1e-12):
            result.unchanged += 1
            continue
        wild = old is not None and old > 0 and not (1 / max_ratio <= new / old <= max_ratio)
        change = PriceChange(
            model_id, price.component, price.tier, old, new, held=wild or (old == 0 and new > 0)
        )
        if change.held:
            result.held.append(change)
            continue
        result.applied.append(change)
        entry = entries.setdefault(
            model_id,
            {
                "source": f"AWS Price List API ({price.service_code}, sku {price.sku}), {region}",
                "read": today,
            },
        )
        if price.tier is None:
            entry.setdefault("regions", {}).setdefault(region, {})[price.component] = new
        else:
            entry.setdefault("tiers", {}).setdefault(price.tier, {})[price.component] = new
    # A tier price needs its input and output: fill the others from the shipped tier, or drop it.
    for model_id, entry in entries.items():
        tiers = entry.get("tiers", {})
        for tier, values in list(tiers.items()):
            shipped_tier = shipped.entries()[model_id].tiers.get(tier) or RateSet()
            merged = {
                k: getattr(shipped_tier, k) for k in RATE_FIELDS if getattr(shipped_tier, k) is not None
            }
            merged.update(values)
            if "input" in merged and "output" in merged:
                tiers[tier] = merged
            else:
                del tiers[tier]
        if not tiers:
            entry.pop("tiers", None)
    result.unknown_models = sorted(unknown)
    result.document = {
        "_about": "Prices read from the AWS Price List by the price sync; merged over the shipped table.",
        "synced_at": now.astimezone(UTC).isoformat(),
        "region": region,
        "max_ratio": max_ratio,
        "models": entries,
        "held": [change.as_dict() for change in result.held],
        "unknown_models": result.unknown_models,
    }
    # The document must load the way the meter will load it.
    PriceBook.load(synced=result.document)
    return result


# ---------------------------------------------------------------------------- storage (S3)


class PriceDocumentStore:
    """The synced price document in S3 (`s3://<bucket>/prices/synced.json`)."""

    def __init__(self, bucket: str, key: str = DOCUMENT_KEY, client: Any = None) -> None:
        self.bucket = bucket
        self.key = key
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def read(self, etag: str | None = None) -> tuple[dict[str, Any] | None, str | None]:
        """(document, ETag); (None, etag) when it is unchanged since `etag`; (None, None) when
        there is no document yet."""
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key}
        if etag:
            kwargs["IfNoneMatch"] = etag
        try:
            answer = self.client.get_object(**kwargs)
        except ClientError as err:
            code = str(err.response.get("Error", {}).get("Code", ""))
            if code in {"304", "NotModified"}:
                return None, etag
            if code in {"NoSuchKey", "404"}:
                return None, None
            raise
        document: dict[str, Any] = json.loads(answer["Body"].read())
        return document, str(answer.get("ETag") or "")

    def write(self, document: Mapping[str, Any]) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.key,
            Body=json.dumps(document, indent=1, sort_keys=True).encode(),
            ContentType="application/json",
        )


def document_age_hours(document: Mapping[str, Any] | None, now: datetime) -> float:
    """Hours since the document was synced; the shipped table's newest read date when none."""
    if document is not None and isinstance(document.get("synced_at"), str):
        synced = datetime.fromisoformat(document["synced_at"])
    else:
        reads = [e.get("read", "") for e in shipped_document()["models"].values()]
        synced = datetime.fromisoformat(max(reads)).replace(tzinfo=UTC)
    return max(0.0, (now - synced).total_seconds() / 3600)


# ---------------------------------------------------------------------------- the job


@dataclass(frozen=True, slots=True)
class PriceSyncSettings:
    namespace: str
    bucket: str
    region: str
    max_ratio: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PriceSyncSettings:
        """METRICS_NAMESPACE, PRICE_DOCUMENT_BUCKET, AWS_REGION, MAX_PRICE_CHANGE_RATIO."""
        return cls(
            namespace=env_str("METRICS_NAMESPACE", environ=environ),
            bucket=env_str("PRICE_DOCUMENT_BUCKET", environ=environ),
            region=env_str("AWS_REGION", "us-east-1", environ),
            max_ratio=env_float("MAX_PRICE_CHANGE_RATIO", 1.5, minimum=1.0, environ=environ),
        )


def sync_prices(
    settings: PriceSyncSettings, now: datetime, *, pricing: Any, store: PriceDocumentStore
) -> SyncResult:
    """Read the Price List, build the document and store it (raises PriceSyncError)."""
    prices = read_price_list(pricing, settings.region)
    if not prices:
        raise PriceSyncError(f"the Price List returned no Bedrock token prices for {settings.region}")
    result = build_document(prices, settings.region, max_ratio=settings.max_ratio, now=now)
    try:
        store.write(result.document)
    except Exception as err:
        raise PriceSyncError(
            f"could not store the price document in s3://{store.bucket}/{store.key}: {err}"
        ) from err
    return result


def metrics_document(
    namespace: str, now: datetime, *, age_hours: float, failed: bool, held: int
) -> dict[str, Any]:
    """EMF: PriceAgeHours, PriceSyncFailed, PriceChangesHeld (dimension set [] only)."""
    values = {"PriceAgeHours": round(age_hours, 3), "PriceSyncFailed": int(failed), "PriceChangesHeld": held}
    return {"_aws": emf_metadata(namespace, int(now.timestamp() * 1000), values), **values}


# ---------------------------------------------------------------------------- the meter's side


class PriceSource:
    """The metering function's view of the synced document: read on first use, then at most
    every `refresh_seconds` with a conditional GET (unchanged: no body); a failure keeps the
    prices in use and retries after `retry_seconds`. The shipped table is the fallback."""

    def __init__(
        self,
        store: PriceDocumentStore | None,
        overrides: Mapping[str, Any],
        *,
        refresh_seconds: float = 3600.0,
        retry_seconds: float = 300.0,
        clock: Any = time.monotonic,
    ) -> None:
        self.store = store
        self.overrides = overrides
        self.refresh_seconds = refresh_seconds
        self.retry_seconds = retry_seconds
        self.clock = clock
        self.book = PriceBook.load(overrides)
        self.synced_at: str | None = None
        self.error: str | None = None
        self._etag: str | None = None
        self._next = 0.0

    def current(self) -> PriceBook:
        """The price book to use now (reloads the document when it is due)."""
        if self.store is None or self.clock() < self._next:
            return self.book
        try:
            document, etag = self.store.read(self._etag)
            if document is not None:
                self.book = PriceBook.load(self.overrides, synced=document)
                self.synced_at = str(document.get("synced_at"))
            self._etag = etag
            self.error = None
            self._next = self.clock() + self.refresh_seconds
        except Exception as err:  # keep metering on the prices in use; say why in the summary
            self.error = f"{type(err).__name__}: {err}"[:200]
            self._next = self.clock() + self.retry_seconds
        return self.book
