"""Bedrock model-invocation logging, turned on (and back off) by the stack.

Invocation logging is one setting per account and region (PutModelInvocationLoggingConfiguration),
not a resource: whoever set it last wins, and another team may already rely on it. So the
`Custom::InvocationLogging` resource:

- with `Enabled=true` points logging at the stack's log group through the stack's role, unless
  logging is already on with a different configuration that is not the stack's own: then it
  refuses, naming the current destination, unless `ReplaceExisting=true`;
- remembers what was there before (an SSM parameter, `PreviousParameter`: a custom resource's
  Delete request carries no attributes of the earlier reply) and puts it back when logging is
  turned off or the stack is deleted, unless someone has changed the setting since, which it
  then leaves alone;
- retries the Put while IAM has not yet propagated the just-created role (Bedrock answers
  ValidationException until it can assume it and write to the group).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from bedrock_watch.errors import BedrockWatchError, ConfigurationError

# Bedrock validates the role and the log group on Put; a role created seconds earlier may not be
# usable yet (IAM is eventually consistent). Retry for up to about a minute.
PUT_ATTEMPTS: Final = 7
PUT_FIRST_DELAY_SECONDS: Final = 2.0
OFF: Final = "off"  # what the previous-configuration parameter holds when logging was off


class LoggingConflict(BedrockWatchError):
    """Invocation logging is already on with another configuration that the stack must not replace."""


@dataclass(frozen=True, slots=True)
class LoggingRequest:
    """What the stack asks for (the custom resource's properties)."""

    enabled: bool
    log_group: str
    role_arn: str
    previous_parameter: str
    replace_existing: bool = False
    text_bodies: bool = True
    large_data_bucket: str = ""

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> LoggingRequest:
        """From CloudFormation's ResourceProperties (every scalar arrives as a string)."""

        def flag(name: str, default: bool) -> bool:
            value = str(props.get(name, str(default))).strip().lower()
            if value not in {"true", "false"}:
                raise ConfigurationError(f"{name} must be true or false, got {props.get(name)!r}")
            return value == "true"

        for name in ("LogGroupName", "RoleArn", "PreviousParameter"):
            if not str(props.get(name) or "").strip():
                raise ConfigurationError(f"{name} is required")
        return cls(
            enabled=flag("Enabled", False),
            log_group=str(props["LogGroupName"]),
            role_arn=str(props["RoleArn"]),
            previous_parameter=str(props["PreviousParameter"]),
            replace_existing=flag("ReplaceExisting", False),
            text_bodies=flag("TextBodies", True),
            large_data_bucket=str(props.get("LargeDataBucket") or ""),
        )

    def configuration(self) -> dict[str, Any]:
        """The loggingConfig to put: CloudWatch Logs to the stack's group, text bodies as asked
        (latency and stop reasons live in them), no image/embedding/video data (not metered)."""
        cloudwatch: dict[str, Any] = {"logGroupName": self.log_group, "roleArn": self.role_arn}
        if self.large_data_bucket:
            cloudwatch["largeDataDeliveryS3Config"] = {
                "bucketName": self.large_data_bucket,
                "keyPrefix": "large-data",
            }
        return {
            "cloudWatchConfig": cloudwatch,
            "textDataDeliveryEnabled": self.text_bodies,
            "imageDataDeliveryEnabled": False,
            "embeddingDataDeliveryEnabled": False,
            "videoDataDeliveryEnabled": False,
        }


def describe(config: Mapping[str, Any]) -> str:
    """Where a logging configuration sends records, in words (for refusals and logs)."""
    if not config:
        return "off"
    parts = []
    cloudwatch = config.get("cloudWatchConfig") or {}
    if cloudwatch.get("logGroupName"):
        parts.append(f"CloudWatch Logs group {cloudwatch['logGroupName']} (role {cloudwatch.get('roleArn')})")
    s3 = config.get("s3Config") or {}
    if s3.get("bucketName"):
        parts.append(f"S3 bucket {s3['bucketName']}")
    return " and ".join(parts) or "on, with no destination this stack recognises"


def _is_ours(config: Mapping[str, Any], roles: frozenset[str]) -> bool:
    """Set by this stack: it writes through one of the stack's roles (the current or, during an
    update that replaced the role, the previous one)."""
    return bool(config) and (config.get("cloudWatchConfig") or {}).get("roleArn") in roles


@dataclass
class InvocationLogging:
    """The account's logging setting (a `bedrock` client), the remembered previous one (`ssm`) and
    the destination group (`logs`)."""

    bedrock: Any
    ssm: Any
    logs: Any
    sleep: Callable[[float], None] = time.sleep

    def _require_group(self, name: str) -> None:
        groups = self.logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
        if not any(g.get("logGroupName") == name for g in groups):
            raise ConfigurationError(
                f"InvocationLogGroupName: log group {name} does not exist; create it or set "
                "CreateInvocationLogGroup=true"
            )

    def current(self) -> dict[str, Any]:
        config: dict[str, Any] = (
            self.bedrock.get_model_invocation_logging_configuration().get("loggingConfig") or {}
        )
        return config

    def _put(self, config: Mapping[str, Any]) -> None:
        delay = PUT_FIRST_DELAY_SECONDS
        for attempt in range(PUT_ATTEMPTS):
            try:
                self.bedrock.put_model_invocation_logging_configuration(loggingConfig=dict(config))
                return
            except self.bedrock.exceptions.ValidationException:
                if attempt == PUT_ATTEMPTS - 1:
                    raise
                self.sleep(delay)
                delay = min(delay * 2, 15.0)

    def _remembered(self, name: str) -> dict[str, Any] | None:
        try:
            value = self.ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except self.ssm.exceptions.ParameterNotFound:
            return None
        return {} if value == OFF else dict(json.loads(value))

    def _remember(self, name: str, config: Mapping[str, Any]) -> None:
        value = json.dumps(config, sort_keys=True) if config else OFF
        self.ssm.put_parameter(
            Name=name,
            Value=value,
            Type="String",
            Overwrite=True,
            Description="Bedrock invocation logging before this stack enabled it (restored on delete)",
        )

    def _forget(self, name: str) -> None:
        try:
            self.ssm.delete_parameter(Name=name)
        except self.ssm.exceptions.ParameterNotFound:
            return

    def enable(self, request: LoggingRequest, roles: frozenset[str]) -> str:
        """Point logging at the stack's group; what was done, in words. LoggingConflict when
        another configuration is in place and `replace_existing` is false."""
        current = self.current()
        desired = request.configuration()
        if current == desired:
            return "already logging to the stack's group"
        self._require_group(request.log_group)
        if not _is_ours(current, roles):
            if current and not request.replace_existing:
                raise LoggingConflict(
                    f"Bedrock invocation logging is already on in this region, to {describe(current)}. "
                    f"Set InvocationLoggingReplaceExisting=true to replace it (it is put back when the "
                    f"stack is deleted), or EnableInvocationLogging=false and InvocationLogGroupName="
                    f"{(current.get('cloudWatchConfig') or {}).get('logGroupName') or '<its group>'} to "
                    f"meter the existing logs"
                )
            if self._remembered(request.previous_parameter) is None:
                self._remember(request.previous_parameter, current)
        self._put(desired)
        return f"logging to {describe(desired)} (was {describe(current)})"

    def disable(self, request: LoggingRequest, roles: frozenset[str]) -> str:
        """Put back what was there before the stack enabled logging; what was done, in words."""
        previous = self._remembered(request.previous_parameter)
        if previous is None:
            return "logging was not enabled by this stack: left as it is"
        current = self.current()
        if current and not _is_ours(current, roles):
            self._forget(request.previous_parameter)
            return f"logging was changed by someone else since ({describe(current)}): left as it is"
        if previous:
            self._put(previous)
        else:
            self.bedrock.delete_model_invocation_logging_configuration()
        self._forget(request.previous_parameter)
        return f"restored the previous configuration ({describe(previous)})"


def handle(
    logging: InvocationLogging,
    *,
    request_type: str,
    properties: Mapping[str, Any],
    old_properties: Mapping[str, Any] | None = None,
) -> str:
    """What the `Custom::InvocationLogging` resource does for a CloudFormation request."""
    request = LoggingRequest.from_properties(properties)
    # the stack's logging role, now and before this update: a configuration naming either is ours
    roles = frozenset({request.role_arn, str((old_properties or {}).get("RoleArn") or request.role_arn)})
    if request_type == "Delete" or not request.enabled:
        return logging.disable(request, roles)
    return logging.enable(request, roles)
