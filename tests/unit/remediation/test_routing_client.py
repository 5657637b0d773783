"""The routing client applications use: cached active-model lookups and request metadata."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parameters import SSMProvider

from bedrock_watch.routing import RouteClient


class FakeSSM:
    """Records GetParameter calls; serves whatever route document is current."""

    def __init__(self, active: str) -> None:
        self.active = active
        self.calls: list[str] = []

    def get_parameter(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs["Name"])
        return {"Parameter": {"Value": json.dumps({"route": "chat", "active": self.active, "version": 1})}}


def client(ssm: FakeSSM, max_age: int) -> RouteClient:
    return RouteClient("/bedrock-watch/routes", max_age=max_age, provider=SSMProvider(boto3_client=ssm))  # type: ignore[arg-type]


def test_reads_within_max_age_are_served_from_the_cache() -> None:
    ssm = FakeSSM("model-a")
    routes = client(ssm, max_age=300)

    assert [routes.active_model("chat") for _ in range(5)] == ["model-a"] * 5
    assert ssm.calls == ["/bedrock-watch/routes/chat"]


def test_a_remediation_reaches_callers_once_the_cache_expires() -> None:
    ssm = FakeSSM("model-a")
    routes = client(ssm, max_age=0)  # every entry is already stale
    assert routes.active_model("chat") == "model-a"

    ssm.active = "model-b"  # the workflow switched the route

    assert routes.active_model("chat") == "model-b"
    assert len(ssm.calls) == 2


def test_a_cached_value_hides_a_switch_until_it_expires() -> None:
    ssm = FakeSSM("model-a")
    routes = client(ssm, max_age=300)
    routes.active_model("chat")
    ssm.active = "model-b"
    assert routes.active_model("chat") == "model-a"


def test_routes_are_cached_separately() -> None:
    ssm = FakeSSM("model-a")
    routes = client(ssm, max_age=300)
    routes.active_model("chat")
    routes.active_model("summarise")
    assert ssm.calls == ["/bedrock-watch/routes/chat", "/bedrock-watch/routes/summarise"]


def test_converse_kwargs_tag_the_call_for_the_meter() -> None:
    routes = client(FakeSSM("model-a"), max_age=300)

    kwargs = routes.converse_kwargs(
        "chat", application="support-bot", messages=[], requestMetadata={"tenant": "acme"}
    )

    assert kwargs == {
        "messages": [],
        "modelId": "model-a",
        "requestMetadata": {"tenant": "acme", "application": "support-bot", "route": "chat"},
    }


def test_prefix_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEDROCK_WATCH_STACK", "prod-watch")
    monkeypatch.delenv("BEDROCK_WATCH_ROUTE_PREFIX", raising=False)
    assert RouteClient().prefix == "/prod-watch/routes"
    monkeypatch.setenv("BEDROCK_WATCH_ROUTE_PREFIX", "/custom/routes/")
    assert RouteClient().prefix == "/custom/routes"


def test_a_document_without_an_active_model_is_an_error() -> None:
    ssm = FakeSSM("x")
    ssm.get_parameter = lambda **kw: {"Parameter": {"Value": "{}"}}  # type: ignore[method-assign]
    with pytest.raises(ValueError, match="no active model"):
        client(ssm, max_age=0).active_model("chat")
