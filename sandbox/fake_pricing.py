"""The AWS Price List for the sandbox: moto has no `pricing` service, so the price sync's client is
replaced by this small fake serving `events/pricing/get-products.json` (pages in the API
reference's shape, PriceList items as JSON text, as the real API sends them). Requests are
checked against botocore's service model, so a wrong parameter fails here as it would in AWS.

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


class FakePriceList:
    """`get_products` over a copy of the sample pages; `fail()` makes every call raise."""

    def __init__(self, pages: dict[str, Any] | None = None) -> None:
        sample = load_event("pricing/get-products")
        self.pages: dict[str, Any] = copy.deepcopy(
            pages or {k: v for k, v in sample.items() if k != "_about"}
        )
        self.calls: list[dict[str, Any]] = []
        self._error: str | None = None
        import botocore.session

        self._model = botocore.session.get_session().get_service_model("pricing")

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
        from botocore.exceptions import ClientError
        from botocore.validate import validate_parameters

        shape = self._model.operation_model("GetProducts").input_shape
        assert shape is not None
        validate_parameters(kwargs, shape)
        self.calls.append(kwargs)
        if self._error is not None:
            raise ClientError(
                {"Error": {"Code": self._error, "Message": "the sandbox's Price List fails"}}, "GetProducts"
            )
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
    """Point the price sync at a fake Price List for the duration."""
    from bedrock_watch import pricesync

    fake = fake or FakePriceList()
    original = pricesync.make_pricing_client
    pricesync.make_pricing_client = lambda: fake
    try:
        yield fake
    finally:
        pricesync.make_pricing_client = original
