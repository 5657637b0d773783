"""What the code calls, against what the template's roles allow (the recorded-calls check).

`sandbox.calls` records each AWS call a Lambda handler or a state machine task makes in the
emulator, with the role it runs as. Here each call becomes the IAM (action, resource) pairs AWS
would authorise — `Converse` is `bedrock:InvokeModel`, a publish to a topic under a
customer-managed key also needs that key — and is checked against the role as the template
defines it after both transforms (tests.infra.translated), its references resolved to the
physical names the emulator gave them. tests/conftest.py runs the check after every test: a
permission the code needs and the role lacks fails the test that exercised it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from bedrock_watch.records import ModelKind, parse_model_id
from sandbox.calls import ApiCall
from sandbox.intrinsics import IntrinsicError
from tests.infra.aws_reference import UnknownAction, allows, expand_action, role_statements, star_only
from tests.infra.translated import Deployment, Rendered, TranslationError, translate

# IAM service prefix of a botocore service or Step Functions integration, where they differ.
PREFIX = {
    "stepfunctions": "states",
    "sfn": "states",
    "bedrock-runtime": "bedrock",
    "eventbridge": "events",
    "cloudwatchlogs": "logs",
}
# Operations whose IAM action is not named like the operation (service prefix, operation).
ACTIONS = {
    ("bedrock", "Converse"): "InvokeModel",
    ("bedrock", "ConverseStream"): "InvokeModelWithResponseStream",
    ("lambda", "Invoke"): "InvokeFunction",
    ("lambda", "InvokeAsync"): "InvokeFunction",
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "HeadBucket"): "ListBucket",
}
NO_PERMISSION = {("sts", "GetCallerIdentity")}


@dataclass(frozen=True)
class Need:
    """One permission a call needs: `action` on `resource`."""

    action: str
    resource: str
    why: str  # the call, for the message


# ---------------------------------------------------------------------------- resources of a call


def _arn(prefix: str, region: str, account: str, resource: str) -> str:
    return f"arn:aws:{prefix}:{region}:{account}:{resource}"


def _dynamodb(call: ApiCall, account: str) -> list[tuple[str, str]]:
    p, operation = call.params, _camel(call.operation)
    if operation == "TransactWriteItems":
        verbs = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
        }
        return [
            (verbs[kind], _table(body["TableName"], call.region, account))
            for item in p.get("TransactItems", [])
            for kind, body in item.items()
        ]
    if operation == "TransactGetItems":
        return [
            ("GetItem", _table(i["Get"]["TableName"], call.region, account))
            for i in p.get("TransactItems", [])
        ]
    if operation in {"BatchWriteItem", "BatchGetItem"}:
        return [(operation, _table(name, call.region, account)) for name in p.get("RequestItems", {})]
    table = _table(str(p["TableName"]), call.region, account)
    if p.get("IndexName"):
        table = f"{table}/index/{p['IndexName']}"
    return [(operation, table)]


def _table(name: str, region: str, account: str) -> str:
    return name if name.startswith("arn:") else _arn("dynamodb", region, account, f"table/{name}")


def _ssm(call: ApiCall, account: str) -> list[str]:
    p = call.params
    names = p.get("Names") or [p.get("Name") or p.get("Path")]
    return [_arn("ssm", call.region, account, f"parameter/{str(n).lstrip('/')}") for n in names]


def _cloudwatch(call: ApiCall, account: str) -> list[str]:
    p = call.params
    if "ResourceARN" in p:
        return [str(p["ResourceARN"])]
    names = p.get("AlarmNames") or ([p["AlarmName"]] if "AlarmName" in p else [])
    if names:
        return [_arn("cloudwatch", call.region, account, f"alarm:{n}") for n in names]
    return [_arn("cloudwatch", call.region, account, f"alarm:{p.get('AlarmNamePrefix', '')}*")]


def _lambda(call: ApiCall, account: str) -> list[str]:
    name = str(call.params["FunctionName"])
    return [name if name.startswith("arn:") else _arn("lambda", call.region, account, f"function:{name}")]


def _secretsmanager(call: ApiCall, account: str) -> list[str]:
    secret = str(call.params["SecretId"])
    # a name matches the ARN with the random suffix Secrets Manager adds
    return [
        secret
        if secret.startswith("arn:")
        else _arn("secretsmanager", call.region, account, f"secret:{secret}-??????")
    ]


def _sqs(call: ApiCall, account: str) -> list[str]:
    url = urlparse(str(call.params["QueueUrl"]))
    queue_account, name = url.path.strip("/").split("/")[-2:]
    return [_arn("sqs", call.region, queue_account, name)]


def _logs(call: ApiCall, account: str) -> list[str]:
    p = call.params
    group = p.get("logGroupName") or p.get("logGroupIdentifier") or ""
    if str(group).startswith("arn:"):
        return [str(group)]
    arn = _arn("logs", call.region, account, f"log-group:{group}")
    return [f"{arn}:log-stream:{p['logStreamName']}" if "logStreamName" in p else f"{arn}:*"]


def _events(call: ApiCall, account: str) -> list[str]:
    buses = {str(e.get("EventBusName") or "default") for e in call.params.get("Entries", [])} or {"default"}
    return [
        b if b.startswith("arn:") else _arn("events", call.region, account, f"event-bus/{b}")
        for b in sorted(buses)
    ]


def _bedrock(call: ApiCall, account: str) -> list[str]:
    model = str(call.params.get("modelId") or call.params.get("inferenceProfileIdentifier") or "")
    if model.startswith("arn:"):
        return [model]
    ref = parse_model_id(model)
    if ref.kind is ModelKind.SYSTEM_PROFILE:
        # the profile, and the model in the region it routes to (any of its geography's)
        return [
            _arn("bedrock", call.region, account, f"inference-profile/{model}"),
            f"arn:aws:bedrock:{call.region}::foundation-model/{ref.base_id}",
        ]
    return [f"arn:aws:bedrock:{call.region}::foundation-model/{model}"]


def _scheduler(call: ApiCall, account: str) -> list[str]:
    group = call.params.get("GroupName") or "default"
    return [_arn("scheduler", call.region, account, f"schedule/{group}/{call.params['Name']}")]


def _s3(call: ApiCall, account: str) -> list[str]:
    bucket, key = call.params.get("Bucket"), call.params.get("Key")
    return [f"arn:aws:s3:::{bucket}/{key}" if key is not None else f"arn:aws:s3:::{bucket}"]


def _ce(call: ApiCall, account: str) -> list[str]:
    # Cost Explorer scopes a request to a billing view only when it names one
    return [str(call.params.get("BillingViewArn") or "*")]


def _by_arn(*keys: str) -> Callable[[ApiCall, str], list[str]]:
    return lambda call, _account: [str(call.params[k]) for k in keys if k in call.params][:1]


RESOURCES: dict[str, Callable[[ApiCall, str], list[str]]] = {
    "ssm": _ssm,
    "cloudwatch": _cloudwatch,
    "lambda": _lambda,
    "secretsmanager": _secretsmanager,
    "sqs": _sqs,
    "logs": _logs,
    "events": _events,
    "bedrock": _bedrock,
    "scheduler": _scheduler,
    "s3": _s3,
    "ce": _ce,
    "sns": _by_arn("TopicArn", "TargetArn"),
    "states": _by_arn("stateMachineArn", "executionArn", "StateMachineArn", "ExecutionArn"),
    "kms": lambda call, account: [
        k
        if (k := str(call.params["KeyId"])).startswith("arn:")
        else _arn("kms", call.region, account, f"key/{k}")
    ],
}


class UnmappedCall(LookupError):
    """No rule says which IAM resource this call touches (add one to RESOURCES)."""


def _camel(name: str) -> str:
    return name[:1].upper() + name[1:]


def needs(call: ApiCall, account: str) -> list[Need]:
    """The IAM (action, resource) pairs AWS authorises `call` against."""
    service = call.service.removeprefix("aws-sdk:")
    prefix = PREFIX.get(service, service)
    operation = _camel(call.operation)
    if (prefix, operation) in NO_PERMISSION:
        return []
    why = f"{call.service}.{call.operation}"
    if prefix == "dynamodb":
        return [Need(f"dynamodb:{verb}", arn, why) for verb, arn in _dynamodb(call, account)]
    action = f"{prefix}:{ACTIONS.get((prefix, operation), operation)}"
    expand_action(action)  # UnknownAction when the mapping is wrong
    if star_only(action):
        return [Need(action, "*", why)]
    rule = RESOURCES.get(prefix)
    arns = rule(call, account) if rule else []
    if not arns:
        raise UnmappedCall(f"{why}: no rule gives the resource of {action} (tests/infra/called.py RESOURCES)")
    return [Need(action, arn, why) for arn in arns]


# ---------------------------------------------------------------------------- the check


@dataclass(frozen=True)
class Owner:
    """The template role a recorded call ran as, in the stack the emulator created."""

    stack: Any  # sandbox.stack.Stack
    role: str  # logical id of the role (`<Function>Role`)
    principal: str  # the function or state machine the role belongs to


def owner_of(role_arn: str, stacks: Iterable[Any]) -> Owner | None:
    for stack in stacks:
        for logical_id, resource in stack.resources.items():
            if resource.type == "AWS::IAM::Role" and resource.attributes.get("Arn") == role_arn:
                return Owner(stack, logical_id, logical_id.removesuffix("Role"))
    return None


@functools.cache
def _deployment_template(deployment: Deployment) -> dict[str, Any]:
    return translate(
        dict(deployment.parameters),
        stack_name=deployment.stack_name,
        region=deployment.region,
        account_id=deployment.account_id,
    )


def deployment_of(stack: Any) -> Deployment:
    return Deployment.of(
        dict(stack.parameters),
        stack_name=stack.stack_name,
        region=stack.region,
        account_id=stack.account_id,
    )


class RoleView:
    """A role of a stack the emulator created, as AWS holds it (statements rendered with the
    emulator's physical names)."""

    def __init__(self, stack: Any, role: str) -> None:
        deployment = deployment_of(stack)
        template = _deployment_template(deployment)

        def lookup(logical_id: str, attribute: str | None) -> Any:
            try:
                return stack._lookup(logical_id, attribute)
            except IntrinsicError as err:
                raise LookupError(str(err)) from err

        translated = template["Resources"]
        rendered = Rendered(template, deployment, lookup)
        if role not in translated:
            raise LookupError(f"{role} is not a role of the translated template")
        names = {role, *_attached(translated[role])}
        resolved = {k: rendered.resolver.resolve(translated[k]) for k in names if k in translated}
        self.statements = role_statements(translated, resolved, role)


def _attached(role: Mapping[str, Any]) -> set[str]:
    arns = (role.get("Properties") or {}).get("ManagedPolicyArns") or []
    return {a["Ref"] for a in arns if isinstance(a, dict) and set(a) == {"Ref"}}


def encrypted_topic_keys(call: ApiCall, stack: Any) -> list[str]:
    """KMS key ARNs SNS uses as the publisher for this call (a topic under a stack's CMK)."""
    if call.service.removeprefix("aws-sdk:") != "sns" or _camel(call.operation) not in {
        "Publish",
        "PublishBatch",
    }:
        return []
    topic = call.params.get("TopicArn") or call.params.get("TargetArn")
    for resource in stack.resources.values():
        if resource.type == "AWS::SNS::Topic" and resource.physical_id == topic:
            key_id = resource.properties.get("KmsMasterKeyId")
            for key in stack.resources.values():
                if key.type == "AWS::KMS::Key" and key.physical_id == key_id:
                    return [str(key.attributes["Arn"])]
    return []


@dataclass
class Exercised:
    """Across the session: (role, action) pairs some test exercised, and calls not checked."""

    pairs: set[tuple[str, str]]
    unchecked: dict[str, int]
    checked: int = 0


EXERCISED = Exercised(set(), {})


def check(calls: list[ApiCall], stacks: list[Any]) -> list[str]:
    """One line per call whose role, as the template defines it, does not allow what it needs."""
    problems: list[str] = []
    views: dict[tuple[int, str], RoleView] = {}
    for call in calls:
        owner = owner_of(call.role_arn, stacks)
        if owner is None:
            EXERCISED.unchecked["role not created from the template"] = (
                EXERCISED.unchecked.get("role not created from the template", 0) + 1
            )
            continue
        key = (id(owner.stack), owner.role)
        try:
            view = views.get(key) or views.setdefault(key, RoleView(owner.stack, owner.role))
        except (TranslationError, LookupError) as err:
            reason = f"stack not translatable: {type(err).__name__}"
            EXERCISED.unchecked[reason] = EXERCISED.unchecked.get(reason, 0) + 1
            continue
        try:
            wanted = needs(call, owner.stack.account_id)
        except (UnmappedCall, UnknownAction) as err:
            problems.append(f"{owner.principal}: {err}")
            continue
        wanted += [
            Need(action, key_arn, f"{call.service}.{call.operation} to a topic under a customer-managed key")
            for key_arn in encrypted_topic_keys(call, owner.stack)
            for action in ("kms:GenerateDataKey", "kms:Decrypt")
        ]
        EXERCISED.checked += 1
        for need in wanted:
            EXERCISED.pairs.add((owner.role, need.action.lower()))
            if not allows(view.statements, need.action, need.resource):
                problems.append(
                    f"{owner.principal} ({call.via}) calls {need.why}: needs {need.action} on "
                    f"{need.resource}, which its role {owner.role} does not allow"
                )
    return sorted(set(problems))


def _on_failure_senders(translated: Mapping[str, Any]) -> set[str]:
    """Roles of functions with an asynchronous on-failure destination: Lambda sends there with them."""
    senders = set()
    for resource in translated.values():
        props = resource.get("Properties") or {}
        if resource["Type"] == "AWS::Lambda::EventInvokeConfig" and props.get("DestinationConfig"):
            function = props.get("FunctionName")
            if isinstance(function, dict) and "Ref" in function:
                senders.add(f"{function['Ref']}Role")
    return senders


def untested_grants() -> list[str]:
    """What the default template's roles grant that no recorded call exercised, with the resource."""
    template = translate()
    translated = template["Resources"]
    rendered = Rendered(template).resources
    senders = _on_failure_senders(translated)
    lines = []
    for role, resource in sorted(translated.items()):
        if resource["Type"] != "AWS::IAM::Role" or not role.endswith(("FunctionRole", "StateMachineRole")):
            continue  # the roles EventBridge and the scheduler assume run no code of ours
        for stmt in role_statements(translated, rendered, role):
            actions = stmt.get("Action")
            for action in actions if isinstance(actions, list) else [actions]:
                if stmt.get("Effect") != "Allow" or (role, str(action).lower()) in EXERCISED.pairs:
                    continue
                note = ""
                if str(action).lower() == "sqs:sendmessage" and role in senders:
                    note = "  (the on-failure destination: Lambda sends there, not the code)"
                resources = stmt.get("Resource")
                on = ", ".join(resources) if isinstance(resources, list) else str(resources)
                lines.append(f"{role}: {action} on {on}{note}")
    return sorted(set(lines))
