"""Shared fixtures: fake credentials (no test may reach AWS), Powertools state reset, moto."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

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
    AWS's answer to the token of an ended execution, DynamoDB's write isolation, and no
    execution outliving the test."""
    from sandbox.shims import emulated_aws

    with emulated_aws():
        yield


# ---------------------------------------------------------------- IAM against what the code calls
# Every AWS call a Lambda handler or a state machine task makes in the emulator is recorded with
# the role it runs as (sandbox.calls) and checked, after each test, against that role as the
# template defines it once AWS has transformed it (tests/infra/called.py). A permission the code
# needs and the role lacks fails the test that exercised it.


@pytest.fixture(scope="session", autouse=True)
def _recorded_calls() -> Iterator[Any]:
    from sandbox.calls import recording

    with recording() as log:
        yield log


@pytest.fixture(autouse=True)
def _calls_the_roles_allow(_recorded_calls: Any) -> Iterator[None]:
    yield
    calls, stacks = _recorded_calls.take()
    if not calls:
        # the stacks stay around for calls made later in a module-scoped fixture's emulator
        _recorded_calls.stacks.extend(stacks)
        return
    from tests.infra.called import check

    problems = check(calls, stacks)
    if problems:
        pytest.fail("IAM: the code calls what its role does not allow\n" + "\n".join(problems), pytrace=False)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.infra.called import EXERCISED, untested_grants

    if not EXERCISED.pairs:
        return  # a run with no recorded call (unit tests only) says nothing about grants
    lines = untested_grants()
    terminalreporter.section("IAM grants no test exercised (least privilege: review these)")
    terminalreporter.write_line(f"{EXERCISED.checked} recorded AWS calls checked against their roles")
    for line in lines:
        terminalreporter.write_line(line)
    for reason, count in sorted(EXERCISED.unchecked.items()):
        terminalreporter.write_line(f"({count} recorded calls not checked: {reason})")
