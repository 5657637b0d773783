"""Where the savings are: per application, three estimates priced by bedrock_watch.pricing.

* **cheaper variant** — the same tokens on the route's `cheaper` model, for the traffic an
  application sent to that route's primary or fallbacks (`Routes`);
* **batch** — applications marked as not interactive (the rule chosen: an explicit list, because
  the invocation log cannot tell a user waiting from a nightly job; off-hours non-streaming
  heuristics misjudge both) priced at each model's batch rate;
* **cache misses** — every cache write is a prefix that was not in the cache: the premium paid
  over what a hit (a cache read) would have cost.

All three are estimates: token sums are re-priced per (application, model), so long-context and
per-request tier rules are approximated by the sums, and the 1-hour share of cache writes is
priced at the 5-minute rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bedrock_watch.pricing import PER_TOKENS, PriceBook
from bedrock_watch.records import InvocationRecord, parse_model_id


@dataclass(frozen=True, slots=True)
class Usage:
    """Token sums of one (application, model) and what the meter priced them at."""

    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class RouteModels:
    """A route's models as `Routes` declares them (ids as called, e.g. `us.anthropic…`)."""

    name: str
    models: tuple[str, ...]  # primary and fallbacks
    cheaper: str | None


@dataclass(frozen=True, slots=True)
class ApplicationSavings:
    application: str
    spend_usd: float
    cheaper_variant_usd: float | None  # what its route traffic would cost on the cheaper model
    cheaper_routes: tuple[str, ...]
    batch_saving_usd: float | None  # None: the application is not marked as batch-able
    cache_miss_usd: float  # premium of cache writes over cache reads
    routed_spend_usd: float = 0.0  # spend of the traffic the cheaper variant could replace

    @property
    def cheaper_variant_saving_usd(self) -> float | None:
        if self.cheaper_variant_usd is None:
            return None
        return self.routed_spend_usd - self.cheaper_variant_usd


def _price(book: PriceBook, model_id: str, usage: Usage, *, batch: bool = False) -> float | None:
    model = parse_model_id(model_id)
    record = InvocationRecord(
        "estimate",
        0,
        "Converse",
        model,
        "",
        None,
        None,
        usage.input_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        0,
        usage.output_tokens,
    )
    return book.cost(record, model, batch=batch)


def estimate(
    book: PriceBook,
    usage: Mapping[tuple[str, str], Usage],
    routes: Iterable[RouteModels] = (),
    batch_applications: Iterable[str] = (),
) -> list[ApplicationSavings]:
    """Savings per application from usage keyed by (application, base model id)."""
    batchable = set(batch_applications)
    by_base: dict[str, RouteModels] = {}
    for route in routes:
        for model in route.models:
            by_base.setdefault(parse_model_id(model).base_id, route)
    applications = sorted({app for app, _ in usage})
    out: list[ApplicationSavings] = []
    for application in applications:
        pairs = [(model, figures) for (app, model), figures in usage.items() if app == application]
        spend = sum(f.cost_usd for _, f in pairs)
        cheaper_usd: float | None = None
        routed = 0.0
        names: set[str] = set()
        batch_saving: float | None = 0.0 if application in batchable else None
        cache_miss = 0.0
        for model, figures in pairs:
            routed_by = by_base.get(model)
            if (
                routed_by is not None
                and routed_by.cheaper
                and parse_model_id(routed_by.cheaper).base_id != model
            ):
                priced = _price(book, routed_by.cheaper, figures)
                if priced is not None:
                    cheaper_usd = (cheaper_usd or 0.0) + priced
                    routed += figures.cost_usd
                    names.add(routed_by.name)
            if batch_saving is not None:
                at_batch = _price(book, model, figures, batch=True)
                if at_batch is not None:
                    batch_saving += figures.cost_usd - at_batch
            rates = book.rates_for(parse_model_id(model))
            if rates is not None and figures.cache_write_tokens and rates.cache_write_5m is not None:
                premium = rates.cache_write_5m - (rates.cache_read if rates.cache_read is not None else 0.0)
                cache_miss += figures.cache_write_tokens * max(premium, 0.0) / PER_TOKENS
        out.append(
            ApplicationSavings(
                application,
                spend,
                cheaper_usd,
                tuple(sorted(names)),
                batch_saving,
                cache_miss,
                routed,
            )
        )
    return out
