"""Named domain errors. Step Functions Catch/Retry blocks match these class names exactly."""

from __future__ import annotations

from typing import Any


class BedrockWatchError(Exception):
    """Base of every error this library raises on purpose."""


class ConfigurationError(BedrockWatchError):
    """A setting (environment variable or stack parameter) is missing or malformed."""


def aws_error_code(err: Any) -> str:
    """The error code of a botocore ClientError (`ConditionalCheckFailedException`, …); '' if none."""
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def conditional_check_failed(err: Any) -> bool:
    """Whether a DynamoDB write was refused by its condition."""
    return aws_error_code(err) == "ConditionalCheckFailedException"
