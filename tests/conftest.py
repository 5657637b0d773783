"""Shared fixtures: fake credentials (no test may reach AWS), Powertools state reset, moto."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Set before boto3 is imported anywhere: no test may find real credentials or a real region.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_DEV": "false",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
)


@pytest.fixture(autouse=True)
def _reset_powertools() -> Iterator[None]:
    yield
    # Powertools Metrics keeps class-level state (FACTS §4): clear it so tests stay independent.
    from aws_lambda_powertools.metrics import Metrics

    Metrics._metrics.clear()
    Metrics._dimensions.clear()
    Metrics._metadata.clear()
    Metrics._default_dimensions.clear()


@pytest.fixture
def aws() -> Iterator[None]:
    """moto with executing Step Functions, in-process Lambdas, EventBridge target delivery and
    DynamoDB's write isolation."""
    from moto import mock_aws

    from sandbox.shims import dynamodb_isolation, eventbridge_targets, in_process_lambdas

    with (
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
        in_process_lambdas(),
        eventbridge_targets(),
        dynamodb_isolation(),
    ):
        yield
