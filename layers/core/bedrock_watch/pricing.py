"""Cost of one invocation record (FACTS §5, §11) — the one place that knows the price format.

Prices live in `prices.json` beside this module (USD per 1M tokens, keyed by exact Bedrock base
model ids, each entry with its `source` and the date it was `read`); the price-sync function
writes a newer document the meter merges over it (bedrock_watch.pricesync), and the
PriceOverrides stack parameter replaces or adds entries last. Rules applied here:

* failed requests are not billed (0.0);
* a model we hold no price for, a provisioned/custom model and an unresolved application
  inference profile cost None — counted as UnpricedRequests, never priced at $0 or at a guess;
* a price is found by exact id, or by family when the ids differ only in a date/version suffix
  (`-20250929`, `-v1`, `:0`): a NEW model such as `claude-sonnet-4-7` never inherits the price of
  `claude-sonnet-4-5`;
* the price of the region the call was made in (`regions`, else the entry's own figures);
  geographic profiles (`us.`, `eu.`, …, not `global.`) cost the profile's own price where the
  entry lists one (`profiles`), else `geo_surcharge` more (+10 % for Claude 4.5 and later);
* above `long_context.above_input_tokens` input tokens (cache tokens counted when
  `counts_cache`) the input side and the output side are multiplied (Sonnet 4 / 4.5: x2 / x1.5);
* 5-minute and 1-hour cache writes at their own rates (`cache_write_1h`, else 2x input);
* models whose logged input count includes the cached tokens (`input_includes_cache_read`)
  pay input only for the uncached part;
* the service tier that served the request at that model's tier prices (`tiers`, data per
  model); a tier the entry has no prices for, and `reserved`, are unpriced.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from bedrock_watch.errors import ConfigurationError
from bedrock_watch.records import InvocationRecord, ModelKind, ModelRef, Scope, parse_model_id

PRICES_FILE: Final = Path(__file__).with_name("prices.json")
PER_TOKENS: Final = 1_000_000.0
# Anthropic's rule when a model states no 1-hour rate: a 1-hour cache write costs 2x base input.
ONE_HOUR_WRITE_FACTOR: Final = 2.0

RATE_FIELDS: Final = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")
_REQUIRED_FIELDS: Final = ("input", "output")
PROVENANCE_FIELDS: Final = ("source", "read")
_ENTRY_FIELDS: Final = frozenset(
    {
        *RATE_FIELDS,
        *PROVENANCE_FIELDS,
        "name",
        "kind",
        "batch_factor",
        "geo_surcharge",
        "long_context",
        "tiers",
        "regions",
        "profiles",
        "input_includes_cache_read",
        "price_list_model",
    }
)
_LONG_CONTEXT_REQUIRED: Final = frozenset({"above_input_tokens", "input_factor", "output_factor"})
_LONG_CONTEXT_FIELDS: Final = _LONG_CONTEXT_REQUIRED | {"counts_cache"}
KINDS: Final = frozenset({"text", "embedding"})
# Tiers priced as the entry's own figures; `reserved` is billed per reserved TPM, never per token.
STANDARD_TIERS: Final = frozenset({"default", "standard"})
UNPRICED_TIERS: Final = frozenset({"reserved"})
_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_REGION: Final = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
DEFAULT_BATCH_FACTOR: Final = 0.5

_GEO: Final = Scope.GEO  # read once per record: a constant, not a lookup through the enum class


@dataclass(frozen=True, slots=True)
class RateSet:
    """Prices of the five token components (USD per 1M); None: no price for that component."""

    input: float | None = None
    output: float | None = None
    cache_read: float | None = None
    cache_write_5m: float | None = None
    cache_write_1h: float | None = None

    def over(self, base: RateSet) -> RateSet:
        """`base` with every component this set names replaced (regional and profile prices)."""
        pairs = zip(_values(self), _values(base), strict=True)
        return RateSet(*(mine if mine is not None else theirs for mine, theirs in pairs))


def _values(rates: RateSet) -> tuple[float | None, ...]:
    return (rates.input, rates.output, rates.cache_read, rates.cache_write_5m, rates.cache_write_1h)


@dataclass(frozen=True, slots=True)
class ModelRates:
    """The prices of one model (USD per 1M tokens) and the rules that modify them."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write_5m: float | None = None
    cache_write_1h: float | None = None
    batch_factor: float = DEFAULT_BATCH_FACTOR
    geo_surcharge: float = 0.0  # fraction added on geographic cross-region profiles
    long_context_above: int | None = None  # input tokens above which long-context rates apply
    long_context_input_factor: float = 1.0
    long_context_output_factor: float = 1.0
    long_context_counts_cache: bool = True  # the threshold counts cache reads and writes
    tiers: Mapping[str, RateSet | None] = field(default_factory=dict)  # tier -> prices; None: unpriced
    regions: Mapping[str, RateSet] = field(default_factory=dict)  # source region -> its prices
    profiles: Mapping[str, RateSet] = field(default_factory=dict)  # geo prefix -> the profile's prices
    input_includes_cache_read: bool = False
    name: str = ""
    kind: str = "text"
    source: str = ""
    read: str = ""

    @property
    def standard(self) -> RateSet:
        return RateSet(self.input, self.output, self.cache_read, self.cache_write_5m, self.cache_write_1h)

    @property
    def one_hour_write(self) -> float | None:
        """The 1-hour cache-write rate: stated, or 2x input for a model that has cache writes."""
        return _one_hour(self.standard)


def _one_hour(rates: RateSet) -> float | None:
    if rates.cache_write_1h is not None:
        return rates.cache_write_1h
    if rates.cache_write_5m is not None and rates.input is not None:
        return rates.input * ONE_HOUR_WRITE_FACTOR
    return None


@dataclass(frozen=True, slots=True)
class Price:
    """Everything the hot path needs for one (model, region, scope, tier): resolved once, cached."""

    input: float
    output: float
    cache_read: float | None
    cache_write_5m: float | None
    cache_write_1h: float | None
    factor: float  # geo surcharge (or 1) times the batch factor (or 1)
    long_context_above: int | None
    long_context_input_factor: float
    long_context_output_factor: float
    long_context_counts_cache: bool
    input_includes_cache_read: bool


def family_key(model_id: str) -> str:
    """`model_id` without its date/version suffix: `anthropic.claude-sonnet-4-5-20250929-v1:0` ->
    `anthropic.claude-sonnet-4-5`. Only these suffixes are removed, so distinct models
    (`…-4-5` vs `…-4-7`) keep distinct keys."""
    key = model_id
    # ":0", ":2", ":200k" (context-window variants), possibly stacked ("-v1:0:200k").
    while True:
        head, sep, tail = key.rpartition(":")
        if sep and head and (tail.isdigit() or (tail.endswith("k") and tail[:-1].isdigit())):
            key = head
        else:
            break
    head, sep, tail = key.rpartition("-")
    if sep and head and len(tail) >= 2 and tail[0] == "v" and tail[1:].isdigit():
        key = head
    head, sep, tail = key.rpartition("-")
    if sep and head and len(tail) == 8 and tail.isdigit():
        key = head
    return key


# ---------------------------------------------------------------------------------------------
# The format: one validator, errors naming the model and the field (deploy-config's custom
# resource and the price sync use it too).
# ---------------------------------------------------------------------------------------------


def _number(model: str, name: str, value: Any, *, minimum: float = 0.0) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or value < minimum:
        raise ConfigurationError(
            f"price for model {model!r}: field {name!r} must be a finite number >= {minimum}, got {value!r}"
        )
    return float(value)


def _object(model: str, name: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"price for model {model!r}: field {name!r} must be a JSON object")
    return value


def _rate_set(model: str, name: str, value: Any, *, required: tuple[str, ...] = ()) -> RateSet:
    """Rates of one set; `name` is its place in the entry ("" for the entry's own figures)."""
    entry = _object(model, name, value)
    where = f"{name}." if name else ""
    unknown = sorted(set(entry) - set(RATE_FIELDS))
    if unknown:
        raise ConfigurationError(
            f"price for model {model!r}: unknown field {where + unknown[0]!r} (known: {list(RATE_FIELDS)})"
        )
    for needed in required:
        if entry.get(needed) is None:
            raise ConfigurationError(f"price for model {model!r}: field {where + needed!r} is required")
    return RateSet(
        *(None if entry.get(f) is None else _number(model, where + f, entry[f]) for f in RATE_FIELDS)
    )


def _long_context(model: str, value: Any) -> tuple[int, float, float, bool]:
    if not isinstance(value, Mapping) or not (_LONG_CONTEXT_REQUIRED <= set(value) <= _LONG_CONTEXT_FIELDS):
        raise ConfigurationError(
            f"price for model {model!r}: field 'long_context' must be an object with "
            f"{sorted(_LONG_CONTEXT_REQUIRED)} (and optionally 'counts_cache')"
        )
    threshold = value["above_input_tokens"]
    if type(threshold) is not int or threshold < 0:
        raise ConfigurationError(
            f"price for model {model!r}: field 'long_context.above_input_tokens' must be an integer >= 0"
        )
    counts_cache = value.get("counts_cache", True)
    if type(counts_cache) is not bool:
        raise ConfigurationError(
            f"price for model {model!r}: field 'long_context.counts_cache' must be true or false"
        )
    return (
        threshold,
        _number(model, "long_context.input_factor", value["input_factor"]),
        _number(model, "long_context.output_factor", value["output_factor"]),
        counts_cache,
    )


def _string(model: str, name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"price for model {model!r}: field {name!r} must be a string")
    return value


def parse_entry(
    model: str,
    entry: Any,
    defaults: Mapping[str, Any] | None = None,
    *,
    provenance: bool = False,
    partial: bool = False,
) -> ModelRates:
    """Validate one price entry (shipped, synced or override) into ModelRates.

    `provenance=True` (the shipped and synced documents) also requires `source` and a
    `read` date (YYYY-MM-DD); `partial=True` (a synced entry, merged over a shipped one) does not
    require `input`/`output`. Every error is a ConfigurationError naming the model and field.
    """
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"price for model {model!r} must be a JSON object, got {entry!r}")
    unknown = sorted(set(entry) - _ENTRY_FIELDS)
    if unknown:
        raise ConfigurationError(
            f"price for model {model!r}: unknown field {unknown[0]!r} (known: {sorted(_ENTRY_FIELDS)})"
        )
    for name in () if partial else _REQUIRED_FIELDS:
        if entry.get(name) is None:
            raise ConfigurationError(f"price for model {model!r}: field {name!r} is required")
    if provenance:
        source = entry.get("source")
        if not isinstance(source, str) or not source.strip():
            raise ConfigurationError(
                f"price for model {model!r}: field 'source' is required (where the figures come from)"
            )
        read = entry.get("read")
        if not isinstance(read, str) or not _DATE.match(read):
            raise ConfigurationError(
                f"price for model {model!r}: field 'read' must be the date read, YYYY-MM-DD"
            )
    standard = _rate_set(model, "", {k: entry[k] for k in RATE_FIELDS if k in entry})
    above: int | None = None
    input_factor = output_factor = 1.0
    counts_cache = True
    if entry.get("long_context") is not None:
        above, input_factor, output_factor, counts_cache = _long_context(model, entry["long_context"])
    tiers: dict[str, RateSet | None] = {}
    if entry.get("tiers") is not None:
        for tier, prices in _object(model, "tiers", entry["tiers"]).items():
            name = str(tier).lower()
            if name in STANDARD_TIERS:
                raise ConfigurationError(
                    f"price for model {model!r}: field 'tiers.{tier}' is the entry's own price; list only "
                    "other tiers (priority, flex)"
                )
            tiers[name] = (
                None
                if prices is None
                else _rate_set(model, f"tiers.{tier}", prices, required=_REQUIRED_FIELDS)
            )
    regions: dict[str, RateSet] = {}
    if entry.get("regions") is not None:
        for region, prices in _object(model, "regions", entry["regions"]).items():
            if not _REGION.match(str(region)):
                raise ConfigurationError(
                    f"price for model {model!r}: field 'regions.{region}' is not an AWS region code "
                    "such as eu-west-1"
                )
            regions[str(region)] = _rate_set(model, f"regions.{region}", prices)
    profiles: dict[str, RateSet] = {}
    if entry.get("profiles") is not None:
        from bedrock_watch.records import GEO_PREFIXES

        for prefix, prices in _object(model, "profiles", entry["profiles"]).items():
            if prefix not in GEO_PREFIXES:
                raise ConfigurationError(
                    f"price for model {model!r}: field 'profiles.{prefix}' is not a geographic profile "
                    f"prefix ({sorted(GEO_PREFIXES)}); global. and in-region calls pay the entry's own price"
                )
            profiles[prefix] = _rate_set(model, f"profiles.{prefix}", prices)
    includes = entry.get("input_includes_cache_read", False)
    if type(includes) is not bool:
        raise ConfigurationError(
            f"price for model {model!r}: field 'input_includes_cache_read' must be true or false"
        )
    _string(model, "price_list_model", entry.get("price_list_model", ""))
    kind = entry.get("kind", "text")
    if kind not in KINDS:
        raise ConfigurationError(f"price for model {model!r}: field 'kind' must be one of {sorted(KINDS)}")
    batch_default = (defaults or {}).get("batch_factor", DEFAULT_BATCH_FACTOR)
    return ModelRates(
        input=standard.input or 0.0,
        output=standard.output or 0.0,
        cache_read=standard.cache_read,
        cache_write_5m=standard.cache_write_5m,
        cache_write_1h=standard.cache_write_1h,
        batch_factor=_number(model, "batch_factor", entry.get("batch_factor", batch_default)),
        geo_surcharge=_number(model, "geo_surcharge", entry.get("geo_surcharge", 0.0)),
        long_context_above=above,
        long_context_input_factor=input_factor,
        long_context_output_factor=output_factor,
        long_context_counts_cache=counts_cache,
        tiers=tiers,
        regions=regions,
        profiles=profiles,
        input_includes_cache_read=includes,
        name=_string(model, "name", entry.get("name", "")),
        kind=kind,
        source=_string(model, "source", entry.get("source", "")),
        read=_string(model, "read", entry.get("read", "")),
    )


def price_key(model: str) -> str:
    """Entry keys are base ids (or ARNs of custom/provisioned models and application profiles).
    A profile id is refused: its scope is priced by rule (`profiles`, `geo_surcharge`)."""
    ref = parse_model_id(model)
    if ref.kind is ModelKind.SYSTEM_PROFILE:
        raise ConfigurationError(
            f"price for model {model!r}: use the base model id {ref.base_id!r}; the "
            f"{ref.scope} profile price follows from it (profiles, geo_surcharge)"
        )
    return ref.base_id


def load_document(
    raw: Any, *, what: str, provenance: bool, partial: bool = False
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(defaults, model id -> raw entry) of a price document (`{"defaults": …, "models": …}`),
    every entry validated; errors name the document, the model and the field."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("models"), Mapping):
        raise ConfigurationError(f"{what}: a price document is a JSON object with a 'models' object")
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise ConfigurationError(f"{what}: 'defaults' must be a JSON object")
    entries: dict[str, dict[str, Any]] = {}
    for model, entry in raw["models"].items():
        try:
            parse_entry(str(model), entry, defaults, provenance=provenance, partial=partial)
            entries[price_key(str(model))] = dict(entry)
        except ConfigurationError as err:
            raise ConfigurationError(f"{what}: {err}") from None
    return dict(defaults), entries


def shipped_document(path: Path = PRICES_FILE) -> dict[str, Any]:
    """The price document shipped in the layer (parsed JSON, not validated)."""
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


class PriceBook:
    """Shipped prices, then synced prices, then user overrides; answers the USD cost of a record."""

    def __init__(self, rates: Mapping[str, ModelRates]) -> None:
        self._exact = dict(rates)
        # Family index: a family maps to a price only when all its listed ids agree on it.
        families: dict[str, ModelRates | None] = {}
        prices: dict[str, ModelRates] = {}  # the family's prices, without labels and provenance
        for model_id, model_rates in self._exact.items():
            key = family_key(model_id)
            unlabelled = replace(model_rates, name="", source="", read="")
            if key in families and prices[key] != unlabelled:
                families[key] = None
            else:
                families.setdefault(key, model_rates)
                prices.setdefault(key, unlabelled)
        self._families = families
        # (base id, region, geo prefix / scope, tier, batch) -> resolved price; bounded below.
        self._resolved: dict[tuple[str, str, str, str | None, bool], Price | None] = {}

    @classmethod
    def load(
        cls,
        overrides: Mapping[str, Any] | None = None,
        *,
        path: Path = PRICES_FILE,
        synced: Mapping[str, Any] | None = None,
    ) -> PriceBook:
        """The shipped table, the synced document's entries over it (whole entries: the sync
        read them from AWS), then `overrides` (model id -> entry) field by field.

        An override of a listed model replaces the fields it names and keeps the others; a new
        model needs at least `input` and `output`. A malformed entry raises ConfigurationError
        naming the model and the field.
        """
        defaults, entries = load_document(shipped_document(path), what=str(path.name), provenance=True)
        if synced is not None:
            _, synced_entries = load_document(
                synced, what="synced price document", provenance=True, partial=True
            )
            for key, entry in synced_entries.items():
                if key not in entries:
                    continue  # the sync prices only models the shipped table knows
                # Regional and tier prices merge into the shipped ones; the entry's rules stay.
                merged = {**entries[key], "source": entry["source"], "read": entry["read"]}
                for section in ("regions", "tiers"):
                    if section in entry:
                        merged[section] = {**(entries[key].get(section) or {}), **entry[section]}
                entries[key] = merged
        if overrides is not None:
            if not isinstance(overrides, Mapping):
                raise ConfigurationError("PriceOverrides must be a JSON object of model id -> price entry")
            for model, entry in overrides.items():
                if not isinstance(entry, Mapping):
                    raise ConfigurationError(
                        f"price for model {model!r} must be a JSON object, got {entry!r}"
                    )
                key = price_key(str(model))
                entries[key] = {**entries.get(key, {}), **entry}
        return cls({model: parse_entry(model, entry, defaults) for model, entry in entries.items()})

    def rates_for(self, model: ModelRef) -> ModelRates | None:
        """The price entry for a (resolved) model, or None when there is none we trust."""
        exact = self._exact.get(model.base_id)
        if exact is not None:
            return exact
        if model.kind in (ModelKind.FOUNDATION, ModelKind.SYSTEM_PROFILE):
            return self._families.get(family_key(model.base_id))
        return None  # provisioned, unresolved application profile, unknown ARN

    def input_includes_cache_read(self, model: ModelRef) -> bool:
        """Whether the logged input count of `model` already holds its cache reads."""
        rates = self.rates_for(model)
        return rates is not None and rates.input_includes_cache_read

    def _resolve(self, model: ModelRef, region: str, tier: str | None, batch: bool) -> Price | None:
        rates = self.rates_for(model)
        if rates is None:
            return None
        prices = rates.standard
        regional = rates.regions.get(region)
        if regional is not None:
            prices = regional.over(prices)
        surcharge = 1.0
        if model.scope is _GEO:
            profile = rates.profiles.get(model.geo or "")
            if profile is not None:
                prices = profile.over(prices)  # the profile's own price: no surcharge on top
            else:
                surcharge = 1.0 + rates.geo_surcharge
        if batch:
            factor = surcharge * rates.batch_factor
        elif tier is None or tier in STANDARD_TIERS:
            factor = surcharge
        elif tier in UNPRICED_TIERS or tier not in rates.tiers:
            return None  # reserved capacity, or a tier we hold no price for: never the standard price
        else:
            tier_prices = rates.tiers[tier]
            if tier_prices is None:
                return None
            prices = tier_prices
            factor = surcharge
        if prices.input is None or prices.output is None:
            return None
        return Price(
            prices.input,
            prices.output,
            prices.cache_read,
            prices.cache_write_5m,
            _one_hour(prices),
            factor,
            rates.long_context_above,
            rates.long_context_input_factor,
            rates.long_context_output_factor,
            rates.long_context_counts_cache,
            rates.input_includes_cache_read,
        )

    def cost(self, record: InvocationRecord, model: ModelRef, *, batch: bool = False) -> float | None:
        """USD for `record` served by `model` (already resolved); 0.0 for failed requests (not
        billed); None when no price is known (the caller counts it as UnpricedRequests).
        `batch` prices the record at the model's batch rate instead of its tier."""
        if record.error_code:
            return 0.0
        price = self.price_for(record, model, batch=batch)
        return None if price is None else usd(record, price)

    def price_for(self, record: InvocationRecord, model: ModelRef, *, batch: bool = False) -> Price | None:
        """The rates that apply to `record` served by `model`, or None when no price is known;
        `usd(record, price)` is then its cost (the meter reads `input_includes_cache_read` off the
        same object, so a record costs one price look-up)."""
        return self.price_of(model, record.region, record.service_tier, batch)

    def price_of(self, model: ModelRef, region: str, tier: str | None, batch: bool = False) -> Price | None:
        """price_for by the record's region and served tier (the meter's hot path holds no record)."""
        # Once per record on the metering hot path: one tuple and one dict lookup; the price of a
        # (model, region, scope, tier) is resolved once.
        key = (model.base_id, region, model.geo or model.scope, tier, batch)
        price = self._resolved.get(key)
        if price is None and key not in self._resolved:
            if len(self._resolved) >= 4096:
                self._resolved.clear()  # a caller inventing ids must not grow memory without bound
            price = self._resolved[key] = self._resolve(model, region, tier, batch)
        return price

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._exact

    def __len__(self) -> int:
        return len(self._exact)

    def entries(self) -> Mapping[str, ModelRates]:
        """Every entry by base model id (read-only use)."""
        return self._exact


def usd(record: InvocationRecord, price: Price) -> float | None:
    """USD for a successful `record` at `price` (None when a token kind it used has no rate)."""
    return tokens_usd(
        price,
        record.input_tokens,
        record.cache_read_tokens,
        record.cache_write_tokens,
        record.cache_write_1h_tokens,
        record.output_tokens,
    )


def tokens_usd(  # noqa: PLR0917 - positional on purpose: the meter calls it once per record
    price: Price, input_tokens: int, cache_read: int, cache_write: int, one_hour: int, output_tokens: int
) -> float | None:
    """usd() of a request's logged token counts (input as logged; cache_write all writes, one_hour
    the 1-hour part of them)."""
    five_minute = cache_write - one_hour
    if cache_read and price.input_includes_cache_read:
        input_tokens = input_tokens - cache_read if input_tokens > cache_read else 0
    input_side = input_tokens * price.input
    if cache_read:
        if price.cache_read is None:
            return None
        input_side += cache_read * price.cache_read
    if five_minute:
        if price.cache_write_5m is None:
            return None
        input_side += five_minute * price.cache_write_5m
    if one_hour:
        if price.cache_write_1h is None:
            return None
        input_side += one_hour * price.cache_write_1h
    output_side = output_tokens * price.output

    above = price.long_context_above
    if above is not None:
        counted = input_tokens + cache_read + cache_write if price.long_context_counts_cache else input_tokens
        if counted > above:
            input_side *= price.long_context_input_factor
            output_side *= price.long_context_output_factor
    return (input_side + output_side) / PER_TOKENS * price.factor
