"""Model routes: what an application calls a model by (`chat`, `summarise`), kept in SSM.

A route lives in the SSM parameter `/<stack>/routes/<name>` as JSON: the primary model, ordered
fallbacks, an optional cheaper variant, the active model, a version and who changed it, when and
why. Routes are declared in the stack's `Routes` parameter and seeded by the stack; remediation
rewrites the active model with a version check (see `RouteStore.write`).

SSM has no compare-and-set, so a write is guarded twice (docs/decisions.md):
1. every writer going through this module first claims the next SSM version with a conditional
   DynamoDB update on the route's version item (two writers that read the same version cannot
   both claim it);
2. the SSM parameter's own version, which any writer (a person in the console too) bumps, is
   re-read before the write and checked after it; an edit that slipped in between is restored
   and reported, never silently overwritten.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from bedrock_watch.errors import BedrockWatchError, ConfigurationError
from bedrock_watch.limits import CUSTOM_RESOURCE_RESPONSE_BYTES, ROUTES_REPLY_DATA_BYTES
from bedrock_watch.records import ModelKind, ModelRef, parse_model_id

ROUTE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# Base ids, system profile ids (us./global. + base id) and Bedrock ARNs.
MODEL_ID = re.compile(r"^(arn:aws[a-z-]*:bedrock:[a-z0-9-]*:\d{0,12}:[a-z-]+/)?[A-Za-z0-9._:/-]{3,200}$")


class UnknownRoute(BedrockWatchError):
    """No route of that name exists under the stack's route prefix."""


class InvalidRoute(BedrockWatchError):
    """A route declaration or stored route document is malformed (the message names the field)."""


class VersionConflict(BedrockWatchError):
    """The route changed since it was read; nothing was (or remains) written by this writer."""


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """What the stack declares for a route: the models it may use, in order of preference."""

    primary: str
    fallbacks: tuple[str, ...] = ()
    cheaper: str | None = None

    @property
    def candidates(self) -> tuple[str, ...]:
        """Every model the route may be switched to (primary first), without duplicates."""
        seen: dict[str, None] = dict.fromkeys([self.primary, *self.fallbacks])
        if self.cheaper:
            seen[self.cheaper] = None
        return tuple(seen)


@dataclass(frozen=True, slots=True)
class Route:
    """A route document as stored in SSM."""

    name: str
    spec: RouteSpec
    active: str
    version: int = 1
    changed_by: str = "stack"
    changed_at: str = ""
    reason: str = "declared by the stack"

    def to_json(self) -> str:
        """The document written to SSM (stable key order so diffs read well)."""
        doc = {
            "route": self.name,
            "primary": self.spec.primary,
            "fallbacks": list(self.spec.fallbacks),
            "cheaper": self.spec.cheaper,
            "active": self.active,
            "version": self.version,
            "changedBy": self.changed_by,
            "changedAt": self.changed_at,
            "reason": self.reason,
        }
        return json.dumps(doc, separators=(",", ":"))

    def switched(self, model: str, *, by: str, at: str, reason: str) -> Route:
        """This route with `model` active and the version bumped."""
        return replace(
            self, active=model, version=self.version + 1, changed_by=by, changed_at=at, reason=reason
        )


def _model(value: Any, where: str) -> str:
    if not isinstance(value, str) or not MODEL_ID.match(value):
        raise InvalidRoute(f"{where} must be a Bedrock model id, profile id or ARN, got {value!r}")
    return value


def parse_spec(name: str, raw: Any) -> RouteSpec:
    """A declared route; InvalidRoute naming the offending field."""
    if not ROUTE_NAME.match(name):
        raise InvalidRoute(f"route name {name!r} must match {ROUTE_NAME.pattern}")
    if not isinstance(raw, Mapping):
        raise InvalidRoute(f"route {name!r} must be an object with primary, fallbacks and cheaper")
    unknown = set(raw) - {"primary", "fallbacks", "cheaper"}
    if unknown:
        raise InvalidRoute(f"route {name!r} has unknown field(s) {sorted(unknown)}")
    primary = _model(raw.get("primary"), f"routes.{name}.primary")
    fallbacks_raw = raw.get("fallbacks", [])
    if not isinstance(fallbacks_raw, list):
        raise InvalidRoute(f"routes.{name}.fallbacks must be a list of model ids")
    fallbacks = tuple(_model(m, f"routes.{name}.fallbacks[{i}]") for i, m in enumerate(fallbacks_raw))
    if primary in fallbacks:
        raise InvalidRoute(f"routes.{name}.fallbacks must not repeat the primary {primary!r}")
    cheaper_raw = raw.get("cheaper")
    cheaper = None if cheaper_raw in (None, "") else _model(cheaper_raw, f"routes.{name}.cheaper")
    return RouteSpec(primary=primary, fallbacks=fallbacks, cheaper=cheaper)


def parse_declarations(text: str) -> dict[str, RouteSpec]:
    """The stack's `Routes` parameter (JSON object route name -> spec)."""
    try:
        raw = json.loads(text or "{}")
    except json.JSONDecodeError as err:
        raise InvalidRoute(f"Routes is not valid JSON: {err.msg} at {err.pos}") from None
    if not isinstance(raw, dict):
        raise InvalidRoute("Routes must be a JSON object of route name -> {primary, fallbacks, cheaper}")
    return {name: parse_spec(name, spec) for name, spec in raw.items()}


def parse_route(name: str, text: str) -> Route:
    """A stored route document; InvalidRoute when someone hand-edited it into a bad shape."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        raise InvalidRoute(f"route {name!r} in SSM is not valid JSON") from None
    if not isinstance(doc, dict):
        raise InvalidRoute(f"route {name!r} in SSM must be a JSON object")
    spec = parse_spec(name, {k: doc.get(k) for k in ("primary", "fallbacks", "cheaper") if k in doc})
    active = _model(doc.get("active", spec.primary), f"route {name!r} active")
    version = doc.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidRoute(f"route {name!r} version must be an integer")
    return Route(
        name=name,
        spec=spec,
        active=active,
        version=version,
        changed_by=str(doc.get("changedBy", "")),
        changed_at=str(doc.get("changedAt", "")),
        reason=str(doc.get("reason", "")),
    )


def base_model_id(model: str) -> str:
    """The base model id of a base id, system profile id or Bedrock ARN (the metering ModelId)."""
    return parse_model_id(model).base_id


def invoke_arns(
    specs: Mapping[str, RouteSpec],
    *,
    partition: str,
    region: str,
    account: str,
    resolve: Callable[[ModelRef], ModelRef] | None = None,
) -> list[str]:
    """The IAM resources the probe may invoke: the models of the providers the routes use.

    Two wildcards per provider (its foundation models in every region, since a cross-region
    profile may serve from any, and its system profiles), one per account and region holding
    application inference profiles, and any other ARN as given. One ARN per model would make
    the route seeder's reply grow with the routes past the 4,096 bytes CloudFormation accepts
    (docs/limits.md); the provider bounds what a misused probe could call to the vendors the
    stack already routes to.

    An application inference profile is invoked on the profile AND on the foundation model it
    wraps, so `resolve` (InferenceProfileMap, then GetInferenceProfile) must name that model;
    a profile it cannot resolve is refused, naming the route, since its probe could never pass.
    """
    arns: dict[str, None] = {}
    for name, spec in specs.items():
        for model in spec.candidates:
            ref = parse_model_id(model)
            arn_region, arn_account = region, account
            if model.startswith("arn:"):
                arn_region, arn_account = model.split(":")[3:5]
            if ref.kind is ModelKind.APPLICATION_PROFILE:
                arns[
                    f"arn:{partition}:bedrock:{arn_region}:{arn_account}:application-inference-profile/*"
                ] = None
                wrapped = resolve(ref) if resolve is not None else ref
                if wrapped.kind is ModelKind.APPLICATION_PROFILE:
                    raise InvalidRoute(
                        f"Routes: {name}: cannot tell which model {model} wraps (bedrock:GetInferenceProfile "
                        "failed); name it in InferenceProfileMap so the probe may invoke it"
                    )
                provider, dot, _ = wrapped.base_id.partition(".")
                arns[
                    f"arn:{partition}:bedrock:*::foundation-model/{f'{provider}.*' if dot else provider}"
                ] = None
                continue
            if ref.kind not in (ModelKind.FOUNDATION, ModelKind.SYSTEM_PROFILE):
                arns[model] = None  # provisioned, custom or imported model ARN
                continue
            provider, dot, _ = ref.base_id.partition(".")
            models = f"{provider}.*" if dot else ref.base_id
            arns[f"arn:{partition}:bedrock:*::foundation-model/{models}"] = None
            if ref.kind is ModelKind.SYSTEM_PROFILE:
                arns[f"arn:{partition}:bedrock:{arn_region}:{arn_account}:inference-profile/*.{models}"] = (
                    None
                )
    return list(arns)


def seeder_reply(
    specs: Mapping[str, RouteSpec],
    *,
    partition: str,
    region: str,
    account: str,
    resolve: Callable[[ModelRef], ModelRef] | None = None,
) -> dict[str, str]:
    """The `Custom::Routes` attributes (`InvokeArns`: the probe's IAM resources, comma-separated).

    InvalidRoute when they would not fit CloudFormation's custom-resource reply: the deployment
    fails naming the cause instead of CloudFormation's "response object is too long".
    """
    arns = invoke_arns(specs, partition=partition, region=region, account=account, resolve=resolve)
    data = {"InvokeArns": ",".join(arns)}
    size = len(json.dumps(data))
    if size > ROUTES_REPLY_DATA_BYTES:
        raise InvalidRoute(
            f"Routes: the candidate models need {len(data['InvokeArns'].split(','))} IAM resources "
            f"({size} bytes), more than fit in CloudFormation's {CUSTOM_RESOURCE_RESPONSE_BYTES}-byte "
            "custom-resource reply: use models of fewer providers"
        )
    return data


@dataclass(frozen=True, slots=True)
class StoredRoute:
    """A route together with the SSM parameter version it was read at."""

    route: Route
    ssm_version: int


class RouteStore:
    """Reads and writes routes under `prefix` (`/<stack>/routes`), with the version check."""

    def __init__(
        self, prefix: str, table_name: str | None = None, ssm: Any = None, dynamodb: Any = None
    ) -> None:
        self.prefix = prefix.rstrip("/")
        self.table_name = table_name
        self._ssm = ssm
        self._dynamodb = dynamodb

    @property
    def ssm(self) -> Any:
        if self._ssm is None:
            import boto3

            self._ssm = boto3.client("ssm")
        return self._ssm

    @property
    def dynamodb(self) -> Any:
        if self._dynamodb is None:
            import boto3

            self._dynamodb = boto3.client("dynamodb")
        return self._dynamodb

    def parameter_name(self, route: str) -> str:
        return f"{self.prefix}/{route}"

    def get(self, name: str) -> StoredRoute:
        """The route and the SSM version it was read at; UnknownRoute if it does not exist."""
        if not ROUTE_NAME.match(name):
            raise UnknownRoute(f"route: {name!r} is not a valid route name")
        try:
            param = self.ssm.get_parameter(Name=self.parameter_name(name))["Parameter"]
        except self.ssm.exceptions.ParameterNotFound:
            raise UnknownRoute(
                f"route: no route named {name!r} (parameter {self.parameter_name(name)} does not exist)"
            ) from None
        return StoredRoute(parse_route(name, param["Value"]), int(param["Version"]))

    def all(self) -> list[Route]:
        """Every route under the prefix (a hand-broken document is skipped, not fatal)."""
        found: list[Route] = []
        for page in self.ssm.get_paginator("get_parameters_by_path").paginate(Path=self.prefix):
            for param in page["Parameters"]:
                name = param["Name"].rsplit("/", 1)[-1]
                try:
                    found.append(parse_route(name, param["Value"]))
                except InvalidRoute:
                    continue
        return found

    def _claim(self, name: str, next_version: int) -> None:
        # The conditional update is the compare-and-set SSM lacks: of two writers that read the
        # same SSM version only one can move the item to that version + 1.
        if not self.table_name:
            raise ConfigurationError("RouteStore needs the remediation state table to write routes")
        try:
            self.dynamodb.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": f"route#{name}"}},
                UpdateExpression="SET ssmVersion = :next",
                ConditionExpression="attribute_not_exists(ssmVersion) OR ssmVersion < :next",
                ExpressionAttributeValues={":next": {"N": str(next_version)}},
            )
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            raise VersionConflict(
                f"route {name!r} is being written by another remediation (version {next_version} taken)"
            ) from None

    def write(self, route: Route, expected_ssm_version: int) -> int:
        """Write `route` if its parameter is still at `expected_ssm_version`; the new SSM version.

        VersionConflict when anyone changed the route since it was read: nothing of ours stays
        written and the other writer's change is kept.
        """
        name = route.name
        current = int(self.ssm.get_parameter(Name=self.parameter_name(name))["Parameter"]["Version"])
        if current != expected_ssm_version:
            raise VersionConflict(
                f"route {name!r} changed since it was read (SSM version {current}, expected "
                f"{expected_ssm_version}); not written"
            )
        self._claim(name, expected_ssm_version + 1)
        new_version = int(
            self.ssm.put_parameter(
                Name=self.parameter_name(name), Value=route.to_json(), Type="String", Overwrite=True
            )["Version"]
        )
        if new_version != expected_ssm_version + 1:
            # Someone outside this module wrote between our check and our put: put their
            # document back on top so their change is not lost, and report the conflict.
            self._restore_interleaved(name, expected_ssm_version + 1)
            raise VersionConflict(
                f"route {name!r} was changed by someone else while writing; their change was kept"
            )
        return new_version

    def _restore_interleaved(self, name: str, version: int) -> None:
        theirs = self.ssm.get_parameter(Name=f"{self.parameter_name(name)}:{version}")["Parameter"]["Value"]
        self.ssm.put_parameter(Name=self.parameter_name(name), Value=theirs, Type="String", Overwrite=True)

    def seed(self, specs: Mapping[str, RouteSpec], *, at: str) -> list[str]:
        """Create declared routes that do not exist and update the declaration of those that do.

        A stack update must never undo a live remediation: the active model is kept when it is
        still a candidate, and reset to the primary only when the declaration dropped it.
        Returns the names written.
        """
        written: list[str] = []
        for name, spec in specs.items():
            try:
                stored: StoredRoute | None = self.get(name)
            except (UnknownRoute, InvalidRoute):
                stored = None
            if stored is None:
                route = Route(name=name, spec=spec, active=spec.primary, changed_at=at)
                self.ssm.put_parameter(
                    Name=self.parameter_name(name), Value=route.to_json(), Type="String", Overwrite=True
                )
                written.append(name)
                continue
            old = stored.route
            if old.spec == spec:
                continue
            active = old.active if old.active in spec.candidates else spec.primary
            route = replace(
                old,
                spec=spec,
                active=active,
                version=old.version + 1,
                changed_by="stack",
                changed_at=at,
                reason="declaration updated by the stack",
            )
            self.write(route, stored.ssm_version)
            written.append(name)
        return written

    def delete(self, names: list[str]) -> None:
        """Remove routes (stack deletion)."""
        for name in names:
            try:
                self.ssm.delete_parameter(Name=self.parameter_name(name))
            except self.ssm.exceptions.ParameterNotFound:
                continue


def route_to_dict(route: Route) -> dict[str, Any]:
    """A JSON-friendly view of a route for state machine output."""
    data = asdict(route)
    data["spec"]["fallbacks"] = list(route.spec.fallbacks)
    data["candidates"] = list(route.spec.candidates)
    return data


def sync_routes(
    store: RouteStore,
    *,
    request_type: str,
    declarations: str,
    old_declarations: str | None,
    partition: str,
    region: str,
    account: str,
    at: str,
    resolve: Callable[[ModelRef], ModelRef] | None = None,
) -> dict[str, str]:
    """What the `Custom::Routes` resource does for a CloudFormation request; its attributes
    (`seeder_reply`; `resolve` names the model an application inference profile wraps)."""
    specs = parse_declarations(declarations)
    if request_type == "Delete":
        store.delete(list(specs))
        return {}
    # refuse before writing
    reply = seeder_reply(specs, partition=partition, region=region, account=account, resolve=resolve)
    store.seed(specs, at=at)
    if request_type == "Update" and old_declarations:
        try:
            dropped = set(parse_declarations(old_declarations)) - set(specs)
        except InvalidRoute:
            dropped = set()
        store.delete(sorted(dropped))
    return reply
