"""Where the savings are: each estimate hand-computed from the shipped prices (USD per 1M tokens)."""

from __future__ import annotations

import pytest

from bedrock_watch.pricing import PriceBook
from bedrock_watch.savings import RouteModels, Usage, estimate

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"
M = 1_000_000


def test_cheaper_variant_batch_and_cache_miss_estimates_per_application() -> None:
    # Given support-bot sent Sonnet 4.5 (route chat, cheaper Haiku 4.5) 1M in, 200K cache writes,
    # 300K cache reads, 100K out; and nightly-etl (marked batch) sent Haiku 4.5 500K in, 50K out
    sonnet_cost = (1_000_000 * 3 + 200_000 * 3.75 + 300_000 * 0.30 + 100_000 * 15) / M
    haiku_cost = (500_000 * 1 + 50_000 * 5) / M
    usage = {
        ("support-bot", SONNET): Usage(1_000_000, 300_000, 200_000, 100_000, sonnet_cost),
        ("nightly-etl", HAIKU): Usage(500_000, 0, 0, 50_000, haiku_cost),
    }
    routes = [RouteModels("chat", (f"us.{SONNET}", f"global.{SONNET}"), f"global.{HAIKU}")]
    # When estimated
    rows = {r.application: r for r in estimate(PriceBook.load(), usage, routes, ["nightly-etl"])}
    bot, etl = rows["support-bot"], rows["nightly-etl"]
    # Then support-bot's traffic on Haiku 4.5 (global.: no surcharge) would cost
    on_haiku = (1_000_000 * 1 + 200_000 * 1.25 + 300_000 * 0.10 + 100_000 * 5) / M
    assert bot.cheaper_variant_usd == pytest.approx(on_haiku, abs=1e-9)
    assert bot.cheaper_variant_saving_usd == pytest.approx(sonnet_cost - on_haiku, abs=1e-9)
    assert bot.cheaper_routes == ("chat",)
    # and its 200K cache writes cost 3.75 - 0.30 more than hits would have
    assert bot.cache_miss_usd == pytest.approx(200_000 * (3.75 - 0.30) / M, abs=1e-9)
    # and it is not marked for batch, so no batch estimate
    assert bot.batch_saving_usd is None
    # and nightly-etl at the batch rate (50 %) saves half, with no cheaper route declared
    assert etl.batch_saving_usd == pytest.approx(haiku_cost / 2, abs=1e-9)
    assert etl.cheaper_variant_usd is None
