"""Resolve application inference profile ARNs to the model they wrap (FACTS §1.3).

An application inference profile ARN names no model, so every tool that prices by model id gets
it wrong. We resolve it from the InferenceProfileMap stack parameter first (accounts that do not
want to grant `bedrock:GetInferenceProfile`), then from the API. boto3 is imported only when a
profile actually needs resolving (cold-start budget), and answers are cached for the life of the
container — failures too, for a few minutes, so an AccessDenied does not hammer the API.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from bedrock_watch.errors import ConfigurationError
from bedrock_watch.records import ModelKind, ModelRef, Scope, parse_model_id

logger = logging.getLogger(__name__)

FAILURE_TTL_SECONDS: Final = 300.0
THROTTLE_ATTEMPTS: Final = 3
THROTTLE_BASE_DELAY_SECONDS: Final = 0.2
_THROTTLE_CODES: Final = frozenset(
    {"ThrottlingException", "TooManyRequestsException", "ServiceUnavailableException"}
)

# Regions of the narrower Asia-Pacific geographies (system profiles `jp.` and `au.`).
_JP_REGIONS: Final = frozenset({"ap-northeast-1", "ap-northeast-3"})
_AU_REGIONS: Final = frozenset({"ap-southeast-2", "ap-southeast-4"})


def _geography(region: str) -> str:
    """The geography a region belongs to, named like the system-profile prefixes."""
    if region.startswith("us-gov-"):
        return "us-gov"
    if region.startswith("ap-"):
        return "apac"
    return region.partition("-")[0]  # us, eu, ca, sa, me, af, il, mx ...


def scope_of_regions(regions: Iterable[str]) -> tuple[Scope, str | None]:
    """The scope an application profile's model regions imply (docs/decisions.md):
    one region -> in-region; several regions in one geography -> geo with that prefix (`jp`/`au`
    when all regions are in Japan/Australia, else `apac` for Asia-Pacific); several
    geographies -> global."""
    unique = set(regions)
    if len(unique) <= 1:
        return Scope.IN_REGION, None
    geographies = {_geography(region) for region in unique}
    if len(geographies) > 1:
        return Scope.GLOBAL, None
    geo = geographies.pop()
    if geo == "apac":
        if unique <= _JP_REGIONS:
            geo = "jp"
        elif unique <= _AU_REGIONS:
            geo = "au"
    return Scope.GEO, geo


def _resolved(profile: ModelRef, target: ModelRef, scope: Scope, geo: str | None) -> ModelRef:
    kind = target.kind
    if kind in (ModelKind.FOUNDATION, ModelKind.SYSTEM_PROFILE):
        kind = ModelKind.FOUNDATION if scope is Scope.IN_REGION else ModelKind.SYSTEM_PROFILE
    return ModelRef(profile.original, target.base_id, scope, kind, geo)


def _from_static(profile: ModelRef, model_id: str) -> ModelRef:
    # The map's value may carry a profile prefix (`us.`, `global.`) to state the scope.
    target = parse_model_id(model_id)
    return _resolved(profile, target, target.scope, target.geo)


def _error_code(err: Exception) -> str:
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str) and code:
            return code
    return type(err).__name__


def _region_of(arn: str) -> str | None:
    parts = arn.split(":", 5)
    return parts[3] if len(parts) == 6 and parts[3] else None


class ProfileResolver:
    """Static override map first, then bedrock:GetInferenceProfile, cached per container.

    Hold one instance at module scope in the handler so its cache lives as long as the container.
    `client` (tests) is used for every region; without it a `bedrock` client is created lazily
    for the profile's own region.
    """

    def __init__(
        self,
        static_map: Mapping[str, str] | None = None,
        client: Any = None,
        *,
        failure_ttl_seconds: float = FAILURE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if static_map is not None and not isinstance(static_map, Mapping):
            raise ConfigurationError("InferenceProfileMap must be a JSON object of profile ARN -> model id")
        self._static = dict(static_map or {})
        for arn, model_id in self._static.items():
            if not isinstance(arn, str) or ":application-inference-profile/" not in arn:
                raise ConfigurationError(
                    f"InferenceProfileMap key {arn!r} is not an application inference profile ARN"
                )
            if not isinstance(model_id, str) or not model_id:
                raise ConfigurationError(f"InferenceProfileMap entry {arn!r} must map to a model id string")
        self._client = client
        self._clients: dict[str | None, Any] = {}
        self._resolved: dict[str, ModelRef] = {}
        self._failed: dict[str, tuple[float, str]] = {}  # arn -> (retry after, error code)
        self._failure_ttl = failure_ttl_seconds
        self._clock = clock
        self._sleep = sleep
        self.api_calls = 0  # GetInferenceProfile calls made (visible to tests and logs)

    def resolve(self, model: ModelRef) -> ModelRef:
        """The model itself unless it is an application profile; for one, the model it wraps
        (with the scope its regions imply), or `model` unchanged when it cannot be resolved."""
        if model.kind is not ModelKind.APPLICATION_PROFILE:
            return model
        arn = model.original
        known = self._resolved.get(arn)
        if known is not None:
            return known
        static = self._static.get(arn)
        if static is not None:
            known = self._resolved[arn] = _from_static(model, static)
            return known
        failed = self._failed.get(arn)
        if failed is not None and failed[0] > self._clock():
            return model
        try:
            known = self._from_api(model)
        except Exception as err:  # an unresolved profile is counted as unpriced, never fatal
            code = _error_code(err)
            self._failed[arn] = (self._clock() + self._failure_ttl, code)
            logger.warning("cannot resolve application inference profile %s: %s", arn, code)
            return model
        self._failed.pop(arn, None)
        self._resolved[arn] = known
        return known

    def failure(self, arn: str) -> str | None:
        """The error code of the last failed resolution of `arn`, while it is cached."""
        failed = self._failed.get(arn)
        return failed[1] if failed is not None and failed[0] > self._clock() else None

    def _bedrock(self, region: str | None) -> Any:
        if self._client is not None:
            return self._client
        client = self._clients.get(region)
        if client is None:
            import boto3  # only now: most containers never resolve a profile
            from botocore.config import Config

            # Our own loop retries throttling (below), so botocore makes one attempt per call.
            config = Config(
                retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=5
            )
            client = self._clients[region] = boto3.client("bedrock", region_name=region, config=config)
        return client

    def _from_api(self, profile: ModelRef) -> ModelRef:
        arn = profile.original
        client = self._bedrock(_region_of(arn))
        for attempt in range(THROTTLE_ATTEMPTS):
            self.api_calls += 1
            try:
                response = client.get_inference_profile(inferenceProfileIdentifier=arn)
                break
            except Exception as err:
                if _error_code(err) not in _THROTTLE_CODES or attempt == THROTTLE_ATTEMPTS - 1:
                    raise
                self._sleep(THROTTLE_BASE_DELAY_SECONDS * 2**attempt)
        models = response.get("models") if isinstance(response, dict) else None
        if not isinstance(models, list) or not models:
            raise LookupError("GetInferenceProfile answered no models")
        targets: set[str] = set()
        regions: list[str] = []
        for entry in models:
            model_arn = entry.get("modelArn") if isinstance(entry, dict) else None
            if not isinstance(model_arn, str):
                raise LookupError("GetInferenceProfile answered a model without modelArn")
            target = parse_model_id(model_arn)
            targets.add(target.base_id)
            region = _region_of(model_arn)
            if region:
                regions.append(region)
        if len(targets) != 1:
            raise LookupError("GetInferenceProfile answered more than one base model")
        scope, geo = scope_of_regions(regions)
        return _resolved(profile, parse_model_id(models[0]["modelArn"]), scope, geo)
