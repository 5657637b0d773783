"""template.yaml as AWS will see it: the AWS::LanguageExtensions transform, then the SAM transform.

CloudFormation runs the template's transforms in order before it creates anything:

1. `AWS::LanguageExtensions` expands `Fn::ForEach`, `Fn::ToJsonString`, `Fn::Length`, and
   resolves every intrinsic whose value is known at that point (parameters, pseudo parameters,
   conditions). Here: the port of AWS's implementation that SAM CLI ships
   (`samcli.lib.cfn_language_extensions`, the code `sam build`/`sam validate` run).
2. `AWS::Serverless-2016-10-31` turns functions, state machines and their events into plain
   CloudFormation, with the SAM policy templates (SNSPublishMessagePolicy, ...) expanded into
   statements. Here: aws-sam-translator itself, offline (a region on a local boto3 session, the
   managed-policy map the translator bundles).

What moto and the sandbox never show — a SAM property that must be a mapping but became a string
once resolved, the IAM role SAM generates for each function, the statements a policy template
expands to — shows here. `render()` then fills in what only a deployment knows (physical names,
ARNs) with representative values of the right shape, so policies can be checked against the
IAM reference.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from unittest import mock

from sandbox.cfn_expand import parameter_values
from sandbox.intrinsics import ACCOUNT_ID, REGION, Resolver
from sandbox.template import load_template

STACK_NAME: Final = "bedrock-watch"
PARTITION: Final = "aws"
LANGUAGE_EXTENSIONS: Final = "AWS::LanguageExtensions"
SAM: Final = "AWS::Serverless-2016-10-31"
# `sam deploy` uploads local code and ASL files and puts their S3 locations in the template.
_PACKAGED = {
    "AWS::Serverless::Function": ("CodeUri", "s3://sam-artifacts/function.zip"),
    "AWS::Serverless::LayerVersion": ("ContentUri", "s3://sam-artifacts/layer.zip"),
    "AWS::Serverless::StateMachine": ("DefinitionUri", "s3://sam-artifacts/definition.asl.json"),
}


class TranslationError(RuntimeError):
    """A transform rejects the template: CloudFormation would fail the change set with this."""


@dataclass(frozen=True)
class Deployment:
    """Where and how the stack is deployed (what a transform may know of it)."""

    stack_name: str = STACK_NAME
    region: str = REGION
    account_id: str = ACCOUNT_ID
    parameters: tuple[tuple[str, str], ...] = ()  # overrides, as CloudFormation receives them

    @classmethod
    def of(cls, overrides: Mapping[str, Any] | None = None, **kwargs: Any) -> Deployment:
        items = tuple(
            sorted((k, ",".join(v) if isinstance(v, list) else str(v)) for k, v in (overrides or {}).items())
        )
        return cls(parameters=items, **kwargs)


@contextlib.contextmanager
def _fn_sub_kept_when_unresolved() -> Iterator[None]:
    """SAM CLI's port turns an `Fn::Sub` it can resolve only in part into a plain string that still
    holds `${Resource}`, which CloudFormation would then take literally; AWS leaves such an
    `Fn::Sub` for CloudFormation to resolve at deploy time. Keep the intrinsic as written then."""
    from samcli.lib.cfn_language_extensions.resolvers.fn_sub import FnSubResolver

    resolve, lookup = FnSubResolver.resolve, FnSubResolver._resolve_variable
    misses: list[bool] = []

    def resolve_variable(self: Any, name: str, variables: dict[str, Any]) -> Any:
        found = lookup(self, name, variables)
        if found is None and misses:
            misses[-1] = True
        return found

    def resolve_sub(self: Any, value: dict[str, Any]) -> Any:
        misses.append(False)
        try:
            result = resolve(self, value)
        finally:
            missed = misses.pop()
        return value if missed else result

    with (
        mock.patch.object(FnSubResolver, "resolve", resolve_sub),
        mock.patch.object(FnSubResolver, "_resolve_variable", resolve_variable),
    ):
        yield


def language_extensions(template: Mapping[str, Any], deployment: Deployment) -> dict[str, Any]:
    """The template after the AWS::LanguageExtensions transform (Transform list without it)."""
    from samcli.lib.cfn_language_extensions.api import process_template
    from samcli.lib.cfn_language_extensions.exceptions import InvalidTemplateException
    from samcli.lib.cfn_language_extensions.models import PseudoParameterValues, ResolutionMode

    params = parameter_values(template, dict(deployment.parameters))
    pseudo = PseudoParameterValues(
        region=deployment.region,
        account_id=deployment.account_id,
        stack_name=deployment.stack_name,
        partition=PARTITION,
    )
    try:
        with _fn_sub_kept_when_unresolved():
            out = process_template(
                dict(template),
                parameter_values=params,
                pseudo_parameters=pseudo,
                resolution_mode=ResolutionMode.PARTIAL,
            )
    except InvalidTemplateException as err:
        raise TranslationError(f"Transform {LANGUAGE_EXTENSIONS} failed: {err}") from err
    transforms = out.get("Transform")
    transforms = [transforms] if isinstance(transforms, str) else list(transforms or [])
    out["Transform"] = [t for t in transforms if t != LANGUAGE_EXTENSIONS]
    return out


def sam_transform(template: Mapping[str, Any], deployment: Deployment) -> dict[str, Any]:
    """The template after the SAM transform, as CloudFormation's AWS::Serverless transform does it."""
    import boto3
    from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    document = copy.deepcopy(dict(template))
    for resource in (document.get("Resources") or {}).values():
        packaged = _PACKAGED.get(resource.get("Type"))
        props = resource.get("Properties") or {}
        if packaged and packaged[0] in props:
            props[packaged[0]] = packaged[1]
    globals_ = (document.get("Globals") or {}).get("Function") or {}
    if "CodeUri" in globals_:
        globals_["CodeUri"] = _PACKAGED["AWS::Serverless::Function"][1]
    policies = get_bundled_managed_policy_map(PARTITION) or {}
    translator = Translator(
        managed_policy_map=None,
        sam_parser=Parser(),
        plugins=[],
        boto_session=boto3.session.Session(region_name=deployment.region),
    )
    params = {
        name: ",".join(value) if isinstance(value, list) else value
        for name, value in parameter_values(template, dict(deployment.parameters)).items()
    }
    params["AWS::AccountId"] = deployment.account_id
    params["AWS::StackName"] = deployment.stack_name
    try:
        return translator.translate(
            sam_template=document, parameter_values=params, get_managed_policy_map=lambda: policies
        )
    except InvalidDocumentException as err:
        causes = "; ".join(str(cause) for cause in err.causes)
        raise TranslationError(f"Transform {SAM} failed: {causes}") from err


@functools.cache
def _translated(deployment: Deployment) -> str:
    return json.dumps(sam_transform(language_extensions(load_template(), deployment), deployment))


def translate(overrides: Mapping[str, Any] | None = None, **deployment: Any) -> dict[str, Any]:
    """template.yaml after both transforms, for the given parameter overrides (a fresh copy)."""
    result: dict[str, Any] = json.loads(_translated(Deployment.of(overrides, **deployment)))
    return result


# ---------------------------------------------------------------------------- rendering

# What Ref and Fn::GetAtt return, per resource type: "name" is the physical name (the template's
# when it sets one, else one CloudFormation would generate); "{arn}" templates use {name}.
_ARN = "arn:aws:{service}:{region}:{account}:"
_SHAPES: Final[dict[str, dict[str | None, str]]] = {
    "AWS::DynamoDB::Table": {
        None: "{name}",
        "Arn": _ARN + "table/{name}",
        "StreamArn": _ARN + "table/{name}/stream/2026-01-01T00:00:00.000",
    },
    "AWS::SNS::Topic": {None: _ARN + "{name}", "TopicArn": _ARN + "{name}", "TopicName": "{name}"},
    "AWS::SQS::Queue": {
        None: "https://sqs.{region}.amazonaws.com/{account}/{name}",
        "Arn": _ARN + "{name}",
        "QueueName": "{name}",
        "QueueUrl": "https://sqs.{region}.amazonaws.com/{account}/{name}",
    },
    "AWS::Lambda::Function": {None: "{name}", "Arn": _ARN + "function:{name}"},
    "AWS::Lambda::Url": {
        None: _ARN + "function:{name}",
        "FunctionUrl": "https://{name}.lambda-url.{region}.on.aws/",
        "FunctionArn": _ARN + "function:{name}",
    },
    "AWS::Lambda::LayerVersion": {None: _ARN + "layer:{name}:1"},
    "AWS::Lambda::Permission": {None: "{name}"},
    "AWS::StepFunctions::StateMachine": {
        None: _ARN + "stateMachine:{name}",
        "Arn": _ARN + "stateMachine:{name}",
        "Name": "{name}",
    },
    "AWS::SecretsManager::Secret": {None: _ARN + "secret:{name}-AbCdEf", "Id": _ARN + "secret:{name}-AbCdEf"},
    "AWS::IAM::Role": {None: "{name}", "Arn": "arn:aws:iam::{account}:role/{name}", "RoleId": "AROA{name}"},
    "AWS::IAM::ManagedPolicy": {
        None: "arn:aws:iam::{account}:policy/{name}",
        "PolicyArn": "arn:aws:iam::{account}:policy/{name}",
    },
    "AWS::Logs::LogGroup": {None: "{name}", "Arn": _ARN + "log-group:{name}:*"},
    "AWS::SSM::Parameter": {None: "{name}"},
    "AWS::Events::Rule": {None: "{name}", "Arn": _ARN + "rule/{name}"},
    "AWS::Events::EventBus": {None: "{name}", "Arn": _ARN + "event-bus/{name}", "Name": "{name}"},
    "AWS::Scheduler::Schedule": {None: "{name}", "Arn": _ARN + "schedule/default/{name}"},
    "AWS::Scheduler::ScheduleGroup": {None: "{name}", "Arn": _ARN + "schedule-group/{name}"},
    "AWS::CloudWatch::Alarm": {None: "{name}", "Arn": _ARN + "alarm:{name}"},
    "AWS::CloudWatch::CompositeAlarm": {None: "{name}", "Arn": _ARN + "alarm:{name}"},
    "AWS::CloudWatch::Dashboard": {None: "{name}"},
    "AWS::KMS::Key": {
        None: "1234abcd-12ab-34cd-56ef-1234567890ab",
        "Arn": _ARN + "key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
    },
    "AWS::KMS::Alias": {None: "{name}"},
    "AWS::S3::Bucket": {None: "{name}", "Arn": "arn:aws:s3:::{name}"},
    "AWS::S3::BucketPolicy": {None: "{name}"},
}
_SERVICE = {"stepfunctions": "states", "cloudwatch": "cloudwatch"}
_NAME_PROPERTIES = (
    "TableName", "TopicName", "QueueName", "FunctionName", "StateMachineName", "Name", "RoleName",
    "LogGroupName", "AlarmName", "DashboardName", "ManagedPolicyName", "LayerName", "BucketName", "AliasName",
)  # fmt: skip


def _routes_reply(props: Mapping[str, Any]) -> dict[str, str]:
    from bedrock_watch.routes import parse_declarations, seeder_reply

    return seeder_reply(
        parse_declarations(str(props["Routes"])),
        partition=str(props["Partition"]),
        region=str(props["Region"]),
        account=str(props["Account"]),
    )


# What each custom resource replies (its Data), computed by the domain code its handler runs.
CUSTOM_REPLIES: Final[dict[str, Callable[[Mapping[str, Any]], dict[str, str]]]] = {
    "Custom::Routes": _routes_reply,
    # These two reply with no Data (their FAILED reason's size: tests/unit/deploy).
    "Custom::ConfigurationCheck": lambda props: {},
    "Custom::InvocationLogging": lambda props: {},
}


class UnknownShape(LookupError):
    """A Ref/GetAtt of a resource type (or attribute) `render` has no representative value for."""


def stand_in_name(stack_name: str, logical_id: str) -> str:
    """The name CloudFormation generates for an unnamed resource (its random suffix fixed)."""
    return f"{stack_name}-{logical_id}-STANDIN"[:64]


Lookup = Callable[[str, str | None], Any]


class Rendered:
    """The translated template with every intrinsic resolved to a representative value.

    `lookup(logical_id, attribute)` may answer first (the sandbox's physical ids); it raises
    LookupError to fall back to the representative value.
    """

    def __init__(
        self, template: Mapping[str, Any], deployment: Deployment = Deployment(), lookup: Lookup | None = None
    ) -> None:
        self.template = template
        self.deployment = deployment
        self._lookup = lookup
        self._declared: Mapping[str, Any] = template.get("Resources") or {}
        params = parameter_values(load_template(), dict(deployment.parameters))
        self.resolver = Resolver.for_template(
            template,
            params,
            deployment.stack_name,
            self.value,
            region=deployment.region,
            account_id=deployment.account_id,
        )

    def value(self, logical_id: str, attribute: str | None = None) -> Any:
        """What `Ref` (attribute None) or `Fn::GetAtt` of the resource returns."""
        if self._lookup is not None:
            try:
                return self._lookup(logical_id, attribute)
            except LookupError:
                pass
        resource = self._declared.get(logical_id)
        if resource is None:
            raise UnknownShape(f"reference to {logical_id}, which the translated template does not declare")
        type_ = str(resource.get("Type"))
        if type_ in CUSTOM_REPLIES and attribute is not None:
            reply = CUSTOM_REPLIES[type_](self.resolver.resolve(resource.get("Properties") or {}))
            if attribute in reply:
                return reply[attribute]
        shape = _SHAPES.get(type_, {}).get(attribute)
        if shape is None:
            raise UnknownShape(
                f"no representative value for {type_} {'Ref' if attribute is None else attribute}"
            )
        props = resource.get("Properties") or {}
        named = next((props[k] for k in _NAME_PROPERTIES if k in props), None)
        name = (
            self.resolver.resolve(named)
            if named is not None
            else stand_in_name(self.deployment.stack_name, logical_id)
        )
        service = type_.split("::")[1].lower()
        return shape.format(
            name=name,
            service=_SERVICE.get(service, service),
            region=self.deployment.region,
            account=self.deployment.account_id,
        )

    @functools.cached_property
    def resources(self) -> dict[str, Any]:
        """Every resource whose Condition holds, resolved."""
        out: dict[str, Any] = {}
        for logical_id, resource in self._declared.items():
            condition = resource.get("Condition")
            if condition is not None and not self.resolver.condition(str(condition)):
                continue
            out[logical_id] = self.resolver.resolve(resource)
        return out


def render(
    template: Mapping[str, Any], deployment: Deployment = Deployment(), lookup: Lookup | None = None
) -> dict[str, Any]:
    """The translated template's resources, resolved (see Rendered)."""
    return Rendered(template, deployment, lookup).resources
