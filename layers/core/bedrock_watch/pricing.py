"""Cost of one invocation record (FACTS §5).

INTERFACE FIXED BY THE FOUNDATION; implemented by the metering issue (price data file
`prices.json` beside this module, overrides from the PriceOverrides stack parameter).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bedrock_watch.records import InvocationRecord, ModelRef


class PriceBook:
    """Shipped prices plus user overrides; answers the USD cost of a record."""

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None) -> PriceBook:
        """The shipped table with `overrides` (model id -> price entry) applied."""
        raise NotImplementedError

    def cost(self, record: InvocationRecord, model: ModelRef) -> float | None:
        """USD for `record` served by `model` (already resolved); 0.0 for failed requests (not
        billed); None when no price is known (the caller counts it as UnpricedRequests)."""
        raise NotImplementedError
