"""The metering slice of the stack on moto: template.yaml's InvocationMetrics* resources (and what
they refer to) created by the sandbox deployer (sandbox.stack), plus the two things a replay or a
test does with it: write invocation records to the invocation log group, read back what the
function printed.

Writing invocation records with `put_log_events` makes moto deliver them to the function
(synchronously, through sandbox.shims.in_process_lambdas) through the subscription filter the
template declares; the function's output lands in its log group, where `function_output()`
reads it back like CloudWatch Logs would. Call inside an active moto mock with in-process Lambdas
(tests: the `aws` fixture).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.cfn_expand import render, stand_ins
from sandbox.stack import Stack, template_subset
from sandbox.template import load_template

FUNCTION_RESOURCE = "InvocationMetricsFunction"
PREFIXES = ("InvocationMetrics",)
INVOCATION_LOG_STREAM = "aws/bedrock/modelinvocations"


def function_environment(
    resource: str = FUNCTION_RESOURCE, parameters: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """The function's environment as a deployment of template.yaml sets it: Globals then the
    function's own variables, parameters at their defaults unless overridden."""
    rendered = render(parameters)
    globals_env = rendered.expanded["Globals"]["Function"].get("Environment", {}).get("Variables", {})
    own_env = rendered.resources[resource]["Properties"].get("Environment", {}).get("Variables", {})
    return {k: str(v) for k, v in {**stand_ins(rendered.parameters).resolve(globals_env), **own_env}.items()}


@dataclass
class MeteringStack:
    """Handles on the deployed metering slice."""

    stack: Stack

    @property
    def logs(self) -> Any:
        return self.stack.client("logs")

    @property
    def function_name(self) -> str:
        return self.stack.function_name(FUNCTION_RESOURCE)

    @property
    def function_arn(self) -> str:
        return self.stack.arn(FUNCTION_RESOURCE)

    @property
    def invocation_log_group(self) -> str:
        return str(self.stack.parameters["InvocationLogGroupName"])

    @property
    def function_log_group(self) -> str:
        return str(self.stack.physical_id("InvocationMetricsLogGroup"))

    @property
    def namespace(self) -> str:
        return str(self.stack.parameters["MetricsNamespace"])

    def write_invocation_logs(self, events: Iterable[Mapping[str, Any]]) -> None:
        """One put_log_events call (moto delivers it to the subscribed function as one batch)."""
        batch = [{"timestamp": int(e["timestamp"]), "message": str(e["message"])} for e in events]
        if not batch:
            return
        with contextlib.suppress(self.logs.exceptions.ResourceAlreadyExistsException):
            self.logs.create_log_stream(
                logGroupName=self.invocation_log_group, logStreamName=INVOCATION_LOG_STREAM
            )
        self.logs.put_log_events(
            logGroupName=self.invocation_log_group, logStreamName=INVOCATION_LOG_STREAM, logEvents=batch
        )

    def function_output(self) -> list[str]:
        """Every line the function printed, from its log group."""
        return log_lines(self.logs, self.function_log_group)


def log_lines(logs: Any, group: str) -> list[str]:
    """Every message in a log group, oldest first (as Logs Insights or a subscription reads it)."""
    pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group)
    return [event["message"] for page in pages for event in page["events"]]


def forget_powertools_logger(service: str) -> None:
    """Own small shim: Powertools configures the `logging` logger of a service once per process and
    keeps the stream it found (sys.stdout at that moment). Under the in-process Lambda shim that is
    the first invocation's capture buffer, so a later "container" (a new deployment, a new test)
    would log into a dead buffer. Forgetting it gives each deployment a cold start's logging."""
    service_logger = logging.getLogger(service)
    service_logger.handlers.clear()
    for attribute in ("init", "powertools_handler"):
        if hasattr(service_logger, attribute):
            delattr(service_logger, attribute)


def deploy_metering(parameters: Mapping[str, Any] | None = None) -> MeteringStack:
    """Create the metering slice in the active moto account; `parameters` override template defaults."""
    stack = Stack(template_subset(load_template(), PREFIXES), parameters=parameters).create()
    service = stack.resources[FUNCTION_RESOURCE].properties["Environment"]["Variables"][
        "POWERTOOLS_SERVICE_NAME"
    ]
    forget_powertools_logger(str(service))
    return MeteringStack(stack)
