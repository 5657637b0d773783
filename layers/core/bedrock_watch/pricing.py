"""Cost of one invocation record (FACTS §5).

Prices live in `prices.json` beside this module (USD per 1M tokens, keyed by exact Bedrock base
model ids); the PriceOverrides stack parameter replaces or adds entries. Rules applied here:

* failed requests are not billed (0.0);
* a model we hold no price for, a provisioned/custom model and an unresolved application
  inference profile cost None — counted as UnpricedRequests, never priced at $0 or at a guess;
* a price is found by exact id, or by family when the ids differ only in a date/version suffix
  (`-20250929`, `-v1`, `:0`): a NEW model such as `claude-sonnet-4-7` never inherits the price of
  `claude-sonnet-4-5`;
* geographic profiles (`us.`, `eu.`, …, not `global.`) cost `geo_surcharge` more (+10 % for
  Claude 4.5 and later; older models carry no surcharge);
* above `long_context.above_input_tokens` total input tokens the input side (cache rates too)
  and the output side are multiplied (Sonnet 4 / 4.5: x2 / x1.5);
* the Anthropic 1-hour cache-write split is priced at `cache_write_1h` (2x input by default);
* service tiers multiply the price (`defaults.tiers`); a tier with no known factor is unpriced.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bedrock_watch.errors import ConfigurationError
from bedrock_watch.records import InvocationRecord, ModelKind, ModelRef, Scope, parse_model_id

PRICES_FILE: Final = Path(__file__).with_name("prices.json")
PER_TOKENS: Final = 1_000_000.0
# Anthropic's rule when a model states no 1-hour rate: a 1-hour cache write costs 2x base input.
ONE_HOUR_WRITE_FACTOR: Final = 2.0

_RATE_FIELDS: Final = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")
_REQUIRED_FIELDS: Final = ("input", "output")
_ENTRY_FIELDS: Final = frozenset(
    {*_RATE_FIELDS, "name", "batch_factor", "geo_surcharge", "long_context", "tiers"}
)
_LONG_CONTEXT_FIELDS: Final = frozenset({"above_input_tokens", "input_factor", "output_factor"})

_GEO: Final = Scope.GEO  # read once per record: a constant, not a lookup through the enum class


@dataclass(frozen=True, slots=True)
class ModelRates:
    """The prices of one model (USD per 1M tokens) and the rules that modify them."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write_5m: float | None = None
    cache_write_1h: float | None = None
    batch_factor: float = 0.5
    geo_surcharge: float = 0.0  # fraction added on geographic cross-region profiles
    long_context_above: int | None = None  # total input tokens above which long-context rates apply
    long_context_input_factor: float = 1.0
    long_context_output_factor: float = 1.0
    tiers: Mapping[str, float | None] = field(default_factory=dict)  # tier -> factor; None: unpriced
    name: str = ""

    @property
    def one_hour_write(self) -> float | None:
        """The 1-hour cache-write rate: stated, or 2x input for a model that has cache writes."""
        if self.cache_write_1h is not None:
            return self.cache_write_1h
        return self.input * ONE_HOUR_WRITE_FACTOR if self.cache_write_5m is not None else None


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


def _number(model: str, name: str, value: Any, *, minimum: float = 0.0) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or value < minimum:
        raise ConfigurationError(
            f"price for model {model!r}: field {name!r} must be a finite number >= {minimum}, got {value!r}"
        )
    return float(value)


def _rates(model: str, entry: Any, defaults: Mapping[str, Any]) -> ModelRates:
    """Validate one price entry (shipped or override) into ModelRates; errors name model and field."""
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"price for model {model!r} must be a JSON object, got {entry!r}")
    unknown = sorted(set(entry) - _ENTRY_FIELDS)
    if unknown:
        raise ConfigurationError(
            f"price for model {model!r}: unknown field {unknown[0]!r} (known: {sorted(_ENTRY_FIELDS)})"
        )
    for name in _REQUIRED_FIELDS:
        if entry.get(name) is None:
            raise ConfigurationError(f"price for model {model!r}: field {name!r} is required")
    rates = {
        name: None if entry.get(name) is None else _number(model, name, entry[name]) for name in _RATE_FIELDS
    }
    long_context = entry.get("long_context")
    above: int | None = None
    input_factor = output_factor = 1.0
    if long_context is not None:
        if not isinstance(long_context, Mapping) or set(long_context) != _LONG_CONTEXT_FIELDS:
            raise ConfigurationError(
                f"price for model {model!r}: field 'long_context' must be an object with exactly "
                f"{sorted(_LONG_CONTEXT_FIELDS)}"
            )
        threshold = long_context["above_input_tokens"]
        if type(threshold) is not int or threshold < 0:
            raise ConfigurationError(
                f"price for model {model!r}: field 'long_context.above_input_tokens' must be an integer >= 0"
            )
        above = threshold
        input_factor = _number(model, "long_context.input_factor", long_context["input_factor"])
        output_factor = _number(model, "long_context.output_factor", long_context["output_factor"])
    tiers: dict[str, float | None] = dict(defaults.get("tiers", {}))
    entry_tiers = entry.get("tiers")
    if entry_tiers is not None:
        if not isinstance(entry_tiers, Mapping):
            raise ConfigurationError(f"price for model {model!r}: field 'tiers' must be a JSON object")
        for tier, factor in entry_tiers.items():
            tiers[str(tier).lower()] = None if factor is None else _number(model, f"tiers.{tier}", factor)
    name = entry.get("name", "")
    if not isinstance(name, str):
        raise ConfigurationError(f"price for model {model!r}: field 'name' must be a string")
    return ModelRates(
        input=rates["input"] or 0.0,
        output=rates["output"] or 0.0,
        cache_read=rates["cache_read"],
        cache_write_5m=rates["cache_write_5m"],
        cache_write_1h=rates["cache_write_1h"],
        batch_factor=_number(model, "batch_factor", entry.get("batch_factor", defaults["batch_factor"])),
        geo_surcharge=_number(model, "geo_surcharge", entry.get("geo_surcharge", 0.0)),
        long_context_above=above,
        long_context_input_factor=input_factor,
        long_context_output_factor=output_factor,
        tiers=tiers,
        name=name,
    )


def _price_key(model: str) -> str:
    """Override keys are base ids (or ARNs of custom/provisioned models and application profiles).
    A profile id is refused: its scope is priced by rule, not by a separate entry."""
    ref = parse_model_id(model)
    if ref.kind is ModelKind.SYSTEM_PROFILE:
        raise ConfigurationError(
            f"price for model {model!r}: use the base model id {ref.base_id!r}; the "
            f"{ref.scope} profile price follows from it (geo_surcharge)"
        )
    return ref.base_id


class PriceBook:
    """Shipped prices plus user overrides; answers the USD cost of a record."""

    def __init__(self, rates: Mapping[str, ModelRates]) -> None:
        self._exact = dict(rates)
        # Family index: a family maps to a price only when all its listed ids agree on it.
        families: dict[str, ModelRates | None] = {}
        for model_id, model_rates in self._exact.items():
            key = family_key(model_id)
            if key in families and families[key] != model_rates:
                families[key] = None
            else:
                families.setdefault(key, model_rates)
        self._families = families

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None, *, path: Path = PRICES_FILE) -> PriceBook:
        """The shipped table with `overrides` (model id -> price entry) applied.

        An override of a listed model replaces the fields it names and keeps the others; a new
        model needs at least `input` and `output`. A malformed override raises ConfigurationError
        naming the model and the field.
        """
        shipped = json.loads(path.read_text())
        defaults = shipped["defaults"]
        entries: dict[str, dict[str, Any]] = {k: dict(v) for k, v in shipped["models"].items()}
        if overrides is not None:
            if not isinstance(overrides, Mapping):
                raise ConfigurationError("PriceOverrides must be a JSON object of model id -> price entry")
            for model, entry in overrides.items():
                if not isinstance(entry, Mapping):
                    raise ConfigurationError(
                        f"price for model {model!r} must be a JSON object, got {entry!r}"
                    )
                key = _price_key(str(model))
                entries[key] = {**entries.get(key, {}), **entry}
        return cls({model: _rates(model, entry, defaults) for model, entry in entries.items()})

    def rates_for(self, model: ModelRef) -> ModelRates | None:
        """The price entry for a (resolved) model, or None when there is none we trust."""
        exact = self._exact.get(model.base_id)
        if exact is not None:
            return exact
        if model.kind in (ModelKind.FOUNDATION, ModelKind.SYSTEM_PROFILE):
            return self._families.get(family_key(model.base_id))
        return None  # provisioned, unresolved application profile, unknown ARN

    def cost(self, record: InvocationRecord, model: ModelRef, *, batch: bool = False) -> float | None:
        """USD for `record` served by `model` (already resolved); 0.0 for failed requests (not
        billed); None when no price is known (the caller counts it as UnpricedRequests).
        `batch` prices a batch-inference record at the model's batch rate instead of its tier."""
        if record.error_code:
            return 0.0
        # Once per record on the metering hot path: an exact id is one dict lookup; fields are
        # read into locals once. The arithmetic (and so every rounding) is unchanged.
        rates = self._exact.get(model.base_id) or self.rates_for(model)
        if rates is None:
            return None
        tier = record.service_tier
        if batch:
            factor: float | None = rates.batch_factor
        elif tier is None:
            factor = 1.0
        else:
            factor = rates.tiers.get(tier)
        if factor is None:
            return None  # reserved capacity or a tier we have no price factor for

        input_tokens = record.input_tokens
        cache_read = record.cache_read_tokens
        cache_write = record.cache_write_tokens
        one_hour = record.cache_write_1h_tokens
        five_minute = cache_write - one_hour
        input_side = input_tokens * rates.input
        if cache_read:
            if rates.cache_read is None:
                return None
            input_side += cache_read * rates.cache_read
        if five_minute:
            if rates.cache_write_5m is None:
                return None
            input_side += five_minute * rates.cache_write_5m
        if one_hour:
            one_hour_rate = rates.one_hour_write
            if one_hour_rate is None:
                return None
            input_side += one_hour * one_hour_rate
        output_side = record.output_tokens * rates.output

        long_context_above = rates.long_context_above
        if long_context_above is not None and input_tokens + cache_read + cache_write > long_context_above:
            input_side *= rates.long_context_input_factor
            output_side *= rates.long_context_output_factor
        usd = (input_side + output_side) / PER_TOKENS * factor
        if model.scope is _GEO:
            usd *= 1.0 + rates.geo_surcharge
        return usd

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._exact

    def __len__(self) -> int:
        return len(self._exact)
