"""The AWS Price List for the sandbox: moto has no `pricing` service, so pricing:GetProducts is
answered by this small fake serving `events/pricing/get-products.json` (pages in the API
reference's shape, PriceList items as JSON text, as the real API sends them), through
`sandbox.shims.unemulated`: the price sync keeps its real botocore client, which validates the
request against the service model and is recorded with the function's role, so a wrong
parameter or a missing grant fails here as it would in AWS.

    with price_list() as fake:       # the documented sample
        fake.set_price("AmazonBedrock", "NOVAPROIN0001", "0.0006")
        fake.fail("ThrottlingException")   # every call fails until heal()
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from typing import Any

from sandbox.events import load_event
from sandbox.shims import ServiceError, unemulated


class FakePriceList:
    """`get_products` over a copy of the sample pages; `fail()` makes every call raise."""

    def __init__(self, pages: dict[str, Any] | None = None) -> None:
        sample = load_event("pricing/get-products")
        self.pages: dict[str, Any] = copy.deepcopy(
            pages or {k: v for k, v in sample.items() if k != "_about"}
        )
        self.calls: list[dict[str, Any]] = []
        self._error: str | None = None

    def fail(self, code: str = "InternalErrorException") -> None:
        self._error = code

    def heal(self) -> None:
        self._error = None

    def set_price(self, service_code: str, sku: str, usd: str) -> None:
        for item in self.pages[service_code]["PriceList"]:
            if item["product"]["sku"] == sku:
                for term in item["terms"]["OnDemand"].values():
                    for dimension in term["priceDimensions"].values():
                        dimension["pricePerUnit"]["USD"] = usd
                return
        raise KeyError(f"no sku {sku} in {service_code}")

    def get_products(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self._error is not None:
            raise ServiceError(self._error, "the sandbox's Price List fails")
        page = self.pages.get(kwargs["ServiceCode"], {"FormatVersion": "aws_v1", "PriceList": []})
        wanted = {f["Field"]: f["Value"] for f in kwargs.get("Filters", [])}
        items = [
            json.dumps(item)
            for item in page["PriceList"]
            if all(item["product"]["attributes"].get(field) == value for field, value in wanted.items())
        ]
        return {"FormatVersion": "aws_v1", "PriceList": items}


@contextlib.contextmanager
def price_list(fake: FakePriceList | None = None) -> Iterator[FakePriceList]:
    """Answer pricing:GetProducts from a fake Price List for the duration."""
    fake = fake or FakePriceList()
    with unemulated({("pricing", "GetProducts"): lambda params: fake.get_products(**params)}):
        yield fake
