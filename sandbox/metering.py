"""The metering slice of the stack on moto, built from template.yaml: the invocation log group, the
invocation_metrics function (code zipped from functions/, environment and handler from the
template), its own log group, and the subscription filter with the template's filter pattern.

Writing invocation records with `put_log_events` makes moto deliver them to the function
(synchronously, through sandbox.shims.in_process_lambdas); the function's output lands in its
log group, where `function_output()` reads it back like CloudWatch Logs would. Call inside an
active moto mock with in-process Lambdas (tests: the `aws` fixture).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.shims import zip_directory
from sandbox.template import ROOT, load_template, parameter_defaults

FUNCTION_RESOURCE = "InvocationMetricsFunction"
STACK_NAME = "bedrock-watch-sandbox"
ACCOUNT_PSEUDO = {"AWS::StackName": STACK_NAME, "AWS::Region": "us-east-1", "AWS::Partition": "aws"}


def _resolve(value: Any, parameters: Mapping[str, Any]) -> str:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        name = value["Ref"]
        if name in parameters:
            return str(parameters[name])
        if name in ACCOUNT_PSEUDO:
            return ACCOUNT_PSEUDO[name]
        raise KeyError(f"environment refers to {name}, which is neither a parameter nor a pseudo parameter")
    if isinstance(value, dict):
        raise ValueError(f"the sandbox cannot resolve {value} in a function environment")
    return str(value)


def function_environment(
    resource: str = FUNCTION_RESOURCE, parameters: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """The function's environment as deployed: Globals then the function's own variables, with
    parameters at their template defaults unless overridden."""
    template = load_template()
    values = {**parameter_defaults(template), **(parameters or {})}
    variables = {
        **template["Globals"]["Function"].get("Environment", {}).get("Variables", {}),
        **template["Resources"][resource]["Properties"].get("Environment", {}).get("Variables", {}),
    }
    return {name: _resolve(value, values) for name, value in variables.items()}


@dataclass
class MeteringStack:
    """Handles on the deployed metering slice."""

    logs: Any
    function_name: str
    function_arn: str
    invocation_log_group: str
    invocation_log_stream: str
    function_log_group: str
    filter_pattern: str

    def write_invocation_logs(self, events: Iterable[Mapping[str, Any]]) -> None:
        """One put_log_events call (moto delivers it to the subscribed function as one batch)."""
        batch = [{"timestamp": int(e["timestamp"]), "message": str(e["message"])} for e in events]
        if batch:
            self.logs.put_log_events(
                logGroupName=self.invocation_log_group,
                logStreamName=self.invocation_log_stream,
                logEvents=batch,
            )

    def function_output(self) -> list[str]:
        """Every line the function printed, from its log group."""
        lines: list[str] = []
        paginator = self.logs.get_paginator("filter_log_events")
        for page in paginator.paginate(logGroupName=self.function_log_group):
            lines.extend(event["message"] for event in page["events"])
        return lines


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


def deploy_metering(
    parameters: Mapping[str, Any] | None = None, *, region: str = "us-east-1"
) -> MeteringStack:
    """Create the metering slice in the active moto account; `parameters` override template defaults."""
    import boto3

    template = load_template()
    values = {**parameter_defaults(template), **(parameters or {})}
    props = template["Resources"][FUNCTION_RESOURCE]["Properties"]
    fn_globals = template["Globals"]["Function"]
    subscription = props["Events"]["InvocationLogs"]["Properties"]
    iam = boto3.client("iam", region_name=region)
    logs = boto3.client("logs", region_name=region)
    lam = boto3.client("lambda", region_name=region)

    role = iam.create_role(
        RoleName=f"{STACK_NAME}-invocation-metrics",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    name = f"{STACK_NAME}-InvocationMetrics"
    function_log_group = f"/aws/lambda/{name}"
    environment = function_environment(FUNCTION_RESOURCE, values)
    forget_powertools_logger(environment["POWERTOOLS_SERVICE_NAME"])
    logs.create_log_group(logGroupName=function_log_group)
    logs.put_retention_policy(
        logGroupName=function_log_group, retentionInDays=int(values["LogRetentionDays"])
    )
    fn = lam.create_function(
        FunctionName=name,
        Runtime=fn_globals["Runtime"],
        Architectures=fn_globals["Architectures"],
        Role=role,
        Handler=props["Handler"],
        Code={"ZipFile": zip_directory(ROOT / props["CodeUri"])},
        Timeout=int(props.get("Timeout", fn_globals["Timeout"])),
        MemorySize=int(props.get("MemorySize", fn_globals["MemorySize"])),
        Environment={"Variables": environment},
    )
    log_group = _resolve(subscription["LogGroupName"], values)
    stream = "aws/bedrock/modelinvocations"
    logs.create_log_group(logGroupName=log_group)
    logs.create_log_stream(logGroupName=log_group, logStreamName=stream)
    logs.put_subscription_filter(
        logGroupName=log_group,
        filterName="invocation-metrics",
        filterPattern=subscription["FilterPattern"],
        destinationArn=fn["FunctionArn"],
    )
    return MeteringStack(
        logs=logs,
        function_name=name,
        function_arn=fn["FunctionArn"],
        invocation_log_group=log_group,
        invocation_log_stream=stream,
        function_log_group=function_log_group,
        filter_pattern=subscription["FilterPattern"],
    )
