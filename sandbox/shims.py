"""The smallest honest shims that let moto run this stack on a machine with no Docker (FACTS §8).

1. `in_process_lambdas()`: moto runs Lambda code in Docker. We replace
   `LambdaFunction._invoke_lambda` with an in-process call: unzip the uploaded code once per code
   hash, import the handler module under a unique name with the function's environment, call
   it with a Lambda-like context, capture stdout/stderr into the function's log group (so EMF
   lines land where CloudWatch would find them), and report an exception as Lambda does
   (`errorType`/`errorMessage`, function error) so Step Functions Catch/Retry see its name.
   Direct invokes, Step Functions Lambda tasks and log-subscription deliveries all go through it.
   Invocations are serialised by a re-entrant lock because a function's environment is
   process-wide here. While the shim is active, sys.stdout/sys.stderr are a switchable stream:
   loggers that keep the stream they found at cold start (Powertools does) still write into the
   current invocation's capture, as they would into the current Lambda invocation's log stream.
2. `eventbridge_targets()`: moto's EventBridge raises NotImplementedError for Step Functions,
   SNS and Lambda targets. We deliver to those three ourselves (input, InputPath and
   InputTransformer handled by moto's own parser) and leave every other target to moto.
3. `closed_task_tokens()`: answering a task token whose execution has ended, moto raises
   InvalidToken; Step Functions raises TaskTimedOut ("the task associated with the token has
   already been closed"), and the code tells the two apart (a closed wait is no error, a bad
   token is). Tokens moto issued to an ended execution get AWS's answer.

4. `dynamodb_isolation()`: DynamoDB applies each write to an item atomically and runs a
   transaction in isolation (conflicting requests fail, they never interleave). moto's in-process
   backend checks conditions and writes in plain Python, so two threads can both pass a condition
   before either writes. We serialise moto's DynamoDB writes with one lock, which is what
   DynamoDB's own guarantee looks like from the caller: a race test then sees the outcome AWS
   would give, not an interleaving AWS never produces. Reads (GetItem, Query, Scan) take the
   lock too: moto's scan walks a plain dict that a concurrent write can change under it
   ("dictionary changed size during iteration", which DynamoDB never answers).

5. `unemulated()`: operations moto has no backend for (bedrock:GetInferenceProfile,
   pricing:GetProducts) are answered in process *behind* a real botocore client: the client
   validates and serialises the request, and is recorded with its role, exactly as for AWS; the
   fake's answer is encoded as the service's JSON wire format and parsed back by botocore's own
   parser for the operation's output shape, and an error comes back as the service's error code
   (a ClientError subclass of the client's own `exceptions`). Only the network hop is replaced.

6. `ended_executions()`: when an AWS account's stack is torn down nothing it started runs on;
   moto's Step Functions executions are threads that outlive the emulator and would go on
   calling into the *next* emulator of the same process (one test paged into another test's
   queue this way while generated names were not yet random). Every execution still running is
   stopped when the emulator stops (a Wait state wakes at once and the execution ends).

None changes what the code under test does; they only replace what moto lacks or gets wrong. While
`sandbox.calls.recording()` is active, the Lambda shim also says which role each handler runs
as, so the calls it makes can be checked against the template's IAM (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

from sandbox import calls

_LOCK = threading.RLock()
_MODULES: dict[tuple[str, str], ModuleType] = {}
_CODE_DIRS: dict[str, Path] = {}
_TMP = Path(tempfile.gettempdir()) / "bedrock-watch-lambda-code"


@dataclass
class LambdaContext:
    """What a handler may read of its context."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 128
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "in-process"
    timeout_ms: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_ms


@dataclass
class Invocation:
    """One in-process invocation, recorded for tests and the sandbox timeline."""

    function_name: str
    event: Any
    result: Any
    error_type: str | None
    output: str


INVOCATIONS: list[Invocation] = []


def zip_directory(directory: Path) -> bytes:
    """A deployment zip of a function's code folder (what moto's create_function expects)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(directory).as_posix())
    return buf.getvalue()


def _code_dir(code: bytes) -> Path:
    sha = hashlib.sha256(code).hexdigest()[:16]
    if sha not in _CODE_DIRS:
        target = _TMP / sha
        if not target.exists():
            # Extract aside, then rename: another test run on this machine may be looking for the
            # same folder, and must never see it half-written.
            _TMP.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=_TMP, prefix=f".{sha}-"))
            with zipfile.ZipFile(io.BytesIO(code)) as zf:
                zf.extractall(staging)
            try:
                staging.rename(target)
            except OSError:  # another process got there first with the same content
                shutil.rmtree(staging, ignore_errors=True)
        _CODE_DIRS[sha] = target
    return _CODE_DIRS[sha]


class _SwitchableStream(io.TextIOBase):
    """Writes to the current invocation's buffer, or to the real stream between invocations.

    Loggers may keep this stream after the shim is gone; writes then go to the process's original
    stream (never to a test's capture file that has since been closed)."""

    def __init__(self, default: Any, fallback: Any) -> None:
        self.default = default
        self.fallback = fallback
        self.target: Any = None

    def _stream(self) -> Any:
        if self.target is not None:
            return self.target
        return self.fallback if getattr(self.default, "closed", False) else self.default

    def write(self, text: str) -> int:
        self._stream().write(text)
        return len(text)

    def flush(self) -> None:
        self._stream().flush()

    def isatty(self) -> bool:
        return False


_STDOUT: _SwitchableStream | None = None
_STDERR: _SwitchableStream | None = None


@contextlib.contextmanager
def _capture(buf: io.StringIO) -> Iterator[None]:
    streams = [s for s in (_STDOUT, _STDERR) if s is not None]
    saved = [s.target for s in streams]
    for stream in streams:
        stream.target = buf
    try:
        with contextlib.redirect_stdout(_STDOUT or buf), contextlib.redirect_stderr(_STDERR or buf):
            yield
    finally:
        for stream, target in zip(streams, saved, strict=True):
            stream.target = target


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = os.environ.copy()
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _load_module(fn: Any, code_dir: Path) -> ModuleType:
    module_file, _, _ = fn.handler.rpartition(".")
    key = (fn.function_arn, str(code_dir))
    if key not in _MODULES:
        path = code_dir / (module_file.replace(".", "/") + ".py")
        name = f"_lambda_{fn.function_name.replace('-', '_')}_{code_dir.name}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load handler module {path}")
        module = importlib.util.module_from_spec(spec)
        # Registered like a normal import so module-level machinery (dataclasses, pickling) works.
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _MODULES[key] = module
    return _MODULES[key]


def _invoke_in_process(fn: Any, event: Any = None) -> tuple[str, bool, str]:
    if isinstance(event, str | bytes):
        event = json.loads(event)
    code_dir = _code_dir(fn.code_bytes)
    env = {
        "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
        "AWS_REGION": fn.region,
        "AWS_DEFAULT_REGION": fn.region,
        **{k: str(v) for k, v in (fn.environment_vars or {}).items()},
    }
    context = LambdaContext(
        function_name=fn.function_name,
        invoked_function_arn=fn.function_arn,
        memory_limit_in_mb=int(fn.memory_size or 128),
        log_group_name=str(fn.logs_group_name),
    )
    buf = io.StringIO()
    error_type: str | None = None
    with _LOCK, _environ(env), _capture(buf), calls.acting_as(str(fn.role)):
        try:
            handler = getattr(_load_module(fn, code_dir), fn.handler.rpartition(".")[2])
            result = handler(event, context)
            response = json.dumps(result, default=str)
        except Exception as exc:
            error_type = type(exc).__name__
            result = {
                "errorType": error_type,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_exception(exc)[-3:],
            }
            response = json.dumps(result)
            print(json.dumps({"level": "ERROR", "errorType": error_type, "errorMessage": str(exc)}))
    output = buf.getvalue()
    INVOCATIONS.append(Invocation(fn.function_name, event, result, error_type, output))
    if output:
        fn.save_logs(output)
    return response, error_type is not None, output


@contextlib.contextmanager
def in_process_lambdas() -> Iterator[list[Invocation]]:
    """Run moto Lambda invocations in this process; yields the list of invocations made."""
    from moto.awslambda.models import LambdaFunction

    global _STDOUT, _STDERR  # noqa: PLW0603 - one process-wide pair while the shim is active
    INVOCATIONS.clear()
    _STDOUT = _SwitchableStream(sys.stdout, sys.__stdout__)
    _STDERR = _SwitchableStream(sys.stderr, sys.__stderr__)
    with (
        mock.patch.object(LambdaFunction, "_invoke_lambda", _invoke_in_process),
        mock.patch.object(sys, "stdout", _STDOUT),
        mock.patch.object(sys, "stderr", _STDERR),
    ):
        try:
            yield INVOCATIONS
        finally:
            # moto forgets its executions when it stops: note what their tasks called first
            calls.collect_state_machine_tasks()
            for module in _MODULES.values():
                sys.modules.pop(module.__name__, None)
            _MODULES.clear()
            _STDOUT = _STDERR = None


def _deliver(rule: Any, target: dict[str, Any], event: Any) -> None:
    from moto.awslambda.utils import get_backend as lambda_backend
    from moto.sns.models import sns_backends
    from moto.stepfunctions.responses import get_backend as sfn_backend
    from moto.utilities.arns import parse_arn

    arn = parse_arn(target["Arn"])
    body = event if isinstance(event, str) else json.dumps(event)
    if arn.service == "states":
        sfn_backend(arn.account, arn.region).start_execution(
            target["Arn"], name=f"evt-{uuid.uuid4().hex[:24]}", execution_input=body
        )
    elif arn.service == "sns":
        sns_backends[arn.account][arn.region].publish(body, arn=target["Arn"])
    elif arn.service == "lambda":
        fn = lambda_backend(arn.account, arn.region).get_function(target["Arn"])
        fn.invoke(body, {"x-amz-invocation-type": "Event"}, {})


_SHIMMED_SERVICES = {"states", "sns", "lambda"}


def _json_path(document: Any, path: str) -> Any:
    """The simple `$.a.b` paths EventBridge InputPath takes."""
    value = document
    for part in path.removeprefix("$").split("."):
        if part:
            value = value[part]
    return value


@contextlib.contextmanager
def eventbridge_targets() -> Iterator[None]:
    """Deliver EventBridge rule matches to Step Functions, SNS and Lambda targets."""
    from moto.events.models import EventTemplateParser, Rule
    from moto.utilities.arns import parse_arn

    original = Rule.send_to_targets

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        # moto matches every event against scheduled and disabled rules too; EventBridge does not.
        if self.scheduled_expression or self.state == "DISABLED":
            return
        ours = [t for t in self.targets if parse_arn(t["Arn"]).service in _SHIMMED_SERVICES]
        theirs = [t for t in self.targets if t not in ours]
        if ours and self.event_pattern.matches_event(original_event):
            for target in ours:
                event: Any = original_event
                if "InputPath" in target:
                    event = _json_path(original_event, target["InputPath"])
                elif "Input" in target:
                    event = json.loads(target["Input"])
                elif transform_input and "InputTransformer" in target:
                    transformer = target["InputTransformer"]
                    event = EventTemplateParser.parse(
                        input_template=transformer.get("InputTemplate"),
                        input_paths_map=transformer.get("InputPathsMap", {}),
                        event=original_event,
                    )
                _deliver(self, target, event)
        saved = self.targets
        self.targets = theirs
        try:
            original(self, original_event, transform_input)
        finally:
            self.targets = saved

    with mock.patch.object(Rule, "send_to_targets", send_to_targets):
        yield


_DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
# Reads take the same lock: moto walks a plain dict of items (a write in another thread breaks a
# scan with "dictionary changed size during iteration") and updates an item in place (a read
# could see half of an update); DynamoDB reads never fail that way and see each item whole.
_DYNAMODB_READS = ("get_item", "query", "scan")


@contextlib.contextmanager
def dynamodb_isolation() -> Iterator[None]:
    """Serialise moto's DynamoDB writes and reads: item writes atomic, transactions isolated, reads
    of whole items that never break on a concurrent write, as in DynamoDB."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()

    def serialised(original: Any) -> Any:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(self, *args, **kwargs)

        return write

    with contextlib.ExitStack() as stack:
        for name in _DYNAMODB_WRITES + _DYNAMODB_READS:
            stack.enter_context(
                mock.patch.object(DynamoDBBackend, name, serialised(getattr(DynamoDBBackend, name)))
            )
        yield


@contextlib.contextmanager
def closed_task_tokens() -> Iterator[None]:
    """SendTaskSuccess/Failure/Heartbeat with the token of an ended execution: TaskTimedOut, as AWS."""
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser.api import InvalidToken
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    class TaskTimedOut(AWSError):
        TYPE = "TaskTimedOut"

    def issued(backend: Any, token: str) -> bool:
        return any(
            execution.exec_worker is not None
            and execution.exec_worker.env is not None
            and execution.exec_worker.env.callback_pool_manager.get(token) is not None
            for execution in backend._get_executions()
        )

    def wrap(original: Any) -> Any:
        def call(backend: Any, task_token: str, *args: Any, **kwargs: Any) -> Any:
            try:
                return original(backend, task_token, *args, **kwargs)
            except InvalidToken:
                if issued(backend, task_token):
                    raise TaskTimedOut(
                        "Task Timed Out: the task associated with the token has already been closed"
                    ) from None
                raise

        return call

    names = ("send_task_success", "send_task_failure", "send_task_heartbeat")
    with contextlib.ExitStack() as stack:
        for name in names:
            stack.enter_context(
                mock.patch.object(
                    StepFunctionsParserBackend, name, wrap(getattr(StepFunctionsParserBackend, name))
                )
            )
        yield


# ------------------------------------------------------------------ 5. operations moto lacks

# (service name, operation name) -> the fake: api params in, the operation's output out (or
# ServiceError raised). Shared by every client while `unemulated` is active.
Fake = Callable[[dict[str, Any]], dict[str, Any]]
_FAKES: dict[tuple[str, str], Fake] = {}
_FAKES_LOCK = threading.Lock()
_PARAMS = "sandbox.api_params"  # where the request context keeps the call's parameters


class ServiceError(Exception):
    """What a fake raises to answer as AWS does on failure: the error code, its HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class _Body:
    """The raw body of a faked HTTP answer (what botocore's AWSResponse streams)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def _wire_answer(client: Any, operation_model: Any, fake: Fake, params: dict[str, Any]) -> tuple[Any, Any]:
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders
    from botocore.parsers import create_parser

    headers: dict[str, str] = {"content-type": "application/x-amz-json-1.1"}
    try:
        status, body = 200, fake(params)
    except ServiceError as err:
        status, body = err.status, {"__type": err.code, "message": err.message}
        headers["x-amzn-errortype"] = err.code
    raw = json.dumps(body, default=_wire_value).encode()
    parser = create_parser(client.meta.service_model.protocol)
    parsed = parser.parse(
        {"status_code": status, "headers": headers, "body": raw}, operation_model.output_shape
    )
    return AWSResponse(client.meta.endpoint_url, status, HTTPHeaders.from_dict(headers), _Body(raw)), parsed


def _wire_value(value: Any) -> Any:
    # timestamps go over the wire as epoch seconds (the JSON protocols' default)
    if hasattr(value, "timestamp"):
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} cannot go over the wire")


@contextlib.contextmanager
def unemulated(fakes: dict[tuple[str, str], Fake]) -> Iterator[None]:
    """Answer `fakes`' operations (service, operation) for every botocore client while active."""
    from botocore.client import BaseClient

    with _FAKES_LOCK:
        clash = set(fakes) & set(_FAKES)
        if clash:
            raise RuntimeError(f"operations already faked: {sorted(clash)}")
        first = not _FAKES
        _FAKES.update(fakes)
    patches = contextlib.ExitStack()
    if first:
        convert = BaseClient._convert_to_request_dict  # type: ignore[attr-defined]
        send = BaseClient._make_request  # type: ignore[attr-defined]

        def convert_and_keep(client: Any, *args: Any, **kwargs: Any) -> Any:
            context = kwargs.get("context")
            if isinstance(context, dict):
                context[_PARAMS] = kwargs.get("api_params", args[0] if args else {})
            return convert(client, *args, **kwargs)

        def answer(client: Any, operation_model: Any, request_dict: Any, request_context: Any) -> Any:
            fake = _FAKES.get((client.meta.service_model.service_name, operation_model.name))
            if fake is None:
                return send(client, operation_model, request_dict, request_context)
            return _wire_answer(client, operation_model, fake, dict(request_context.get(_PARAMS) or {}))

        patches.enter_context(mock.patch.object(BaseClient, "_convert_to_request_dict", convert_and_keep))
        patches.enter_context(mock.patch.object(BaseClient, "_make_request", answer))
    try:
        with patches:
            yield
    finally:
        with _FAKES_LOCK:
            for key in fakes:
                _FAKES.pop(key, None)


# ------------------------------------------------------------- 6. executions end with the emulator


@contextlib.contextmanager
def ended_executions() -> Iterator[None]:
    """Stop every Step Functions execution still running when the block ends (moto still active)."""
    try:
        yield
    finally:
        from datetime import UTC, datetime

        from moto.stepfunctions.parser.api import ExecutionStatus
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        for regions in list(stepfunctions_parser_backends.values()):
            for backend in list(regions.values()):
                for machine in list(backend.state_machines):
                    for execution in list(machine.executions):
                        if getattr(execution, "exec_status", None) == ExecutionStatus.RUNNING:
                            execution.stop(datetime.now(UTC), "Sandbox.Stopped", "the emulator stopped")


# ------------------------------------------------------------------------------- all of them


@contextlib.contextmanager
def emulated_aws() -> Iterator[list[Invocation]]:
    """moto with executing Step Functions and every shim above that the stack needs (1, 2, 3, 4
    and 6; 5 is per fake): the emulator the tests' `aws` fixture and the sandbox's `running()`
    both start. Yields the Lambda invocations made."""
    from moto import mock_aws

    with (
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
        in_process_lambdas() as invocations,
        eventbridge_targets(),
        closed_task_tokens(),
        dynamodb_isolation(),
        ended_executions(),
    ):
        yield invocations
