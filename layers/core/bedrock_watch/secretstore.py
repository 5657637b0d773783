"""Secrets Manager values cached for a few minutes, so a warm function does not call it per request."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bedrock_watch.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class SecretCache:
    def __init__(
        self,
        client: SecretsManagerClient | None = None,
        *,
        max_age_seconds: float = 300,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._max_age = max_age_seconds
        self._clock = clock
        self._values: dict[str, tuple[float, str]] = {}

    def _secrets_client(self) -> SecretsManagerClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("secretsmanager")
        return self._client

    def text(self, secret_id: str) -> str:
        """The secret's SecretString (cached)."""
        cached = self._values.get(secret_id)
        if cached and self._clock() - cached[0] < self._max_age:
            return cached[1]
        value = self._secrets_client().get_secret_value(SecretId=secret_id).get("SecretString")
        if not value:
            raise ConfigurationError(f"secret {secret_id} has no SecretString")
        self._values[secret_id] = (self._clock(), value)
        return value

    def json(self, secret_id: str) -> dict[str, Any]:
        """The secret parsed as a JSON object."""
        try:
            data = json.loads(self.text(secret_id))
        except json.JSONDecodeError as err:
            raise ConfigurationError(f"secret {secret_id} is not valid JSON: {err.msg}") from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"secret {secret_id} must hold a JSON object")
        return data
