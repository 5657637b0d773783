"""Fixtures: the remediation stack deployed from template.yaml into moto, and a fake Bedrock."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbox.fake_bedrock import FakeBedrock, fake_converse
from tests.integration.remediation.harness import Stack, deploy


@pytest.fixture
def bedrock(aws: None) -> Iterator[FakeBedrock]:
    with fake_converse() as fake:
        yield fake


@pytest.fixture
def make_stack(aws: None, bedrock: FakeBedrock) -> Callable[..., Stack]:
    """Deploy with parameter overrides (e.g. ApprovalTimeoutSeconds=2)."""
    return deploy


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack()


def failure_message(desc: dict[str, Any]) -> str:
    """The readable message of a failed execution (a Lambda error's errorMessage, or the cause)."""
    cause = desc.get("cause", "")
    try:
        parsed = json.loads(cause)
    except json.JSONDecodeError:
        return str(cause)
    return str(parsed.get("errorMessage", cause)) if isinstance(parsed, dict) else str(cause)
