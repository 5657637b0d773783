"""Record the AWS API calls the stack's code makes, and on whose behalf, while the emulator runs.

moto answers every call whatever the caller's role allows. To check the template's IAM against
what the code really calls, `recording()` notes each call a Lambda handler makes (a botocore
hook: service, operation, parameters, region) together with the role the function runs as
(the in-process Lambda shim says which), and each task a state machine runs (read from moto's
execution history when the emulator stops: the integration, its parameters, the machine's
role). Stacks created while recording are kept, so a role ARN can be traced back to the
template resource it came from. Nothing here changes what a call does or returns.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock


@dataclass(frozen=True)
class ApiCall:
    """One call the stack's code made: by which role, to which service operation, with what."""

    role_arn: str
    service: str  # botocore service name (`dynamodb`, `bedrock-runtime`) or a Step Functions integration
    operation: str  # API operation name (`PutItem`, `Converse`)
    params: dict[str, Any]
    region: str
    via: str  # "lambda" (handler code) or "states" (a state machine task)


@dataclass
class CallLog:
    """Calls and stacks recorded since the last `take()`."""

    calls: list[ApiCall] = field(default_factory=list)
    stacks: list[Any] = field(default_factory=list)  # sandbox.stack.Stack, kept by reference
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _tasks_seen: set[tuple[str, int]] = field(default_factory=set)  # (execution ARN, history event id)

    def add(self, call: ApiCall) -> None:
        with self._lock:
            self.calls.append(call)

    def take(self) -> tuple[list[ApiCall], list[Any]]:
        with self._lock:
            taken = (self.calls, self.stacks)
            self.calls, self.stacks = [], []
        return taken


_ACTIVE: CallLog | None = None
_PRINCIPAL = threading.local()


def active() -> CallLog | None:
    """The log being recorded into, if any."""
    return _ACTIVE


@contextlib.contextmanager
def acting_as(role_arn: str) -> Iterator[None]:
    """Attribute the calls this thread makes inside the block to `role_arn` (nested: innermost wins)."""
    stack: list[str] = _PRINCIPAL.__dict__.setdefault("roles", [])
    stack.append(role_arn)
    try:
        yield
    finally:
        stack.pop()


def _current_role() -> str | None:
    roles: list[str] = _PRINCIPAL.__dict__.get("roles", [])
    return roles[-1] if roles else None


def remember_stack(stack: Any) -> None:
    """Keep a created stack, so the roles it made can be traced to its template (no-op when idle)."""
    log = _ACTIVE
    if log is not None:
        with log._lock:
            log.stacks.append(stack)


@contextlib.contextmanager
def recording() -> Iterator[CallLog]:
    """Record calls made under `acting_as` (the Lambda shim sets it) until the block ends."""
    from botocore.client import BaseClient

    global _ACTIVE  # noqa: PLW0603 - one process-wide recorder while active
    log = CallLog()
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def make_api_call(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        role = _current_role()
        if role is not None:
            log.add(
                ApiCall(
                    role_arn=role,
                    service=client.meta.service_model.service_name,
                    operation=operation_name,
                    params=dict(api_params),
                    region=str(client.meta.region_name),
                    via="lambda",
                )
            )
        return original(client, operation_name, api_params)

    previous, _ACTIVE = _ACTIVE, log
    try:
        with mock.patch.object(BaseClient, "_make_api_call", make_api_call):
            yield log
    finally:
        _ACTIVE = previous


def collect_state_machine_tasks() -> None:
    """Record every task the emulator's state machine executions scheduled (call before moto stops)."""
    log = _ACTIVE
    if log is None:
        return
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    for regions in list(stepfunctions_parser_backends.values()):
        for region, backend in list(regions.items()):
            for machine in list(backend.state_machines):
                for execution in list(machine.executions):
                    for event in execution.to_history_output()["events"]:  # type: ignore[attr-defined]
                        details = event.get("taskScheduledEventDetails")
                        seen = (str(execution.execution_arn), int(event.get("id", 0)))
                        if event.get("type") != "TaskScheduled" or not details or seen in log._tasks_seen:
                            continue
                        log._tasks_seen.add(seen)
                        log.add(
                            ApiCall(
                                role_arn=str(machine.roleArn),
                                service=str(details["resourceType"]),
                                operation=str(details["resource"]).split(".")[0],
                                params=json.loads(details.get("parameters") or "{}"),
                                region=str(details.get("region") or region),
                                via="states",
                            )
                        )
