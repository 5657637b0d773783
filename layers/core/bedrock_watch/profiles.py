"""Resolve application inference profile ARNs to the model they wrap (FACTS §1.3).

INTERFACE FIXED BY THE FOUNDATION; implemented by the metering issue. boto3 is imported only
when a profile actually needs resolving (cold-start budget).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bedrock_watch.records import ModelRef


class ProfileResolver:
    """Static override map first, then bedrock:GetInferenceProfile, cached per container."""

    def __init__(self, static_map: Mapping[str, str] | None = None, client: Any = None) -> None:
        self._static = dict(static_map or {})
        self._client = client

    def resolve(self, model: ModelRef) -> ModelRef:
        """The model itself unless it is an application profile; for one, the model it wraps
        (with the scope its regions imply), or `model` unchanged when it cannot be resolved."""
        raise NotImplementedError
