"""The small client an application uses to call Bedrock through a route.

    from bedrock_watch import routing
    reply = bedrock.converse(**routing.converse_kwargs("chat", application="support-bot", messages=msgs))

`active_model` reads the route's SSM parameter through Powertools Parameters with a short cache,
so a remediation reaches every caller within `max_age` seconds without an SSM call per request.
`converse_kwargs` also tags the call with `requestMetadata` (application, route) so the meter
attributes the traffic to the application and the route.
"""

from __future__ import annotations

import json
import os
from typing import Any

from bedrock_watch.contract import ROUTE_METADATA_KEY

DEFAULT_MAX_AGE = 30  # seconds: how long after a failover a caller may still use the old model
DEFAULT_STACK = "bedrock-watch"
PREFIX_ENV = "BEDROCK_WATCH_ROUTE_PREFIX"
STACK_ENV = "BEDROCK_WATCH_STACK"
APPLICATION_KEY = "application"
ROUTE_KEY = ROUTE_METADATA_KEY


class RouteClient:
    """Active-model lookups for one stack's routes, cached for `max_age` seconds."""

    def __init__(
        self,
        prefix: str | None = None,
        *,
        max_age: int = DEFAULT_MAX_AGE,
        provider: Any = None,
        application_key: str = APPLICATION_KEY,
    ) -> None:
        stack = os.environ.get(STACK_ENV, DEFAULT_STACK)
        self.prefix = (prefix or os.environ.get(PREFIX_ENV) or f"/{stack}/routes").rstrip("/")
        self.max_age = max_age
        self.application_key = application_key
        self._provider = provider

    @property
    def provider(self) -> Any:
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SSMProvider

            self._provider = SSMProvider()
        return self._provider

    def route(self, route: str) -> dict[str, Any]:
        """The route document (cached)."""
        value = self.provider.get(f"{self.prefix}/{route}", max_age=self.max_age)
        doc = json.loads(value) if isinstance(value, str | bytes) else value
        if not isinstance(doc, dict) or not isinstance(doc.get("active"), str):
            raise ValueError(f"route {route!r} has no active model")
        return doc

    def active_model(self, route: str) -> str:
        """The model the route currently points at (cached for `max_age` seconds)."""
        return str(self.route(route)["active"])

    def converse_kwargs(self, route: str, *, application: str, **kwargs: Any) -> dict[str, Any]:
        """Keyword arguments for `bedrock-runtime.converse`: the route's active model and
        `requestMetadata` naming the application and route (existing metadata is kept)."""
        metadata = {**kwargs.pop("requestMetadata", {}), self.application_key: application, ROUTE_KEY: route}
        return {**kwargs, "modelId": self.active_model(route), "requestMetadata": metadata}


_default: RouteClient | None = None


def _client() -> RouteClient:
    global _default  # noqa: PLW0603 - one cached client per process is the point
    if _default is None:
        _default = RouteClient()
    return _default


def active_model(route: str) -> str:
    """The active model of `route` in this stack (prefix from BEDROCK_WATCH_ROUTE_PREFIX or
    /$BEDROCK_WATCH_STACK/routes), cached for DEFAULT_MAX_AGE seconds."""
    return _client().active_model(route)


def converse_kwargs(route: str, *, application: str, **kwargs: Any) -> dict[str, Any]:
    """`bedrock-runtime.converse` kwargs for `route`, tagged with application and route."""
    return _client().converse_kwargs(route, application=application, **kwargs)
