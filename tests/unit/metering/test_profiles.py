"""ProfileResolver: application inference profile ARNs -> the model they wrap, cached per container.

moto 5.2.5 implements no Bedrock inference-profile API, so these tests use a small fake client
and, to pin the real request/response shapes, a real boto3 `bedrock` client under botocore's
Stubber (validates parameters and responses against the service model; opens no socket).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from bedrock_watch.errors import ConfigurationError
from bedrock_watch.profiles import ProfileResolver, scope_of_regions
from bedrock_watch.records import ModelKind, ModelRef, Scope, parse_model_id

ACCT = "123456789012"
PROFILE_ARN = f"arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/k3xq9z7w2m1p"
PROFILE = parse_model_id(PROFILE_ARN)
HAIKU_45 = "anthropic.claude-haiku-4-5-20251001-v1:0"


def model_arns(model_id: str, *regions: str) -> list[dict[str, str]]:
    return [{"modelArn": f"arn:aws:bedrock:{region}::foundation-model/{model_id}"} for region in regions]


def answer(models: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "inferenceProfileName": "mailer",
        "inferenceProfileArn": PROFILE_ARN,
        "inferenceProfileId": "k3xq9z7w2m1p",
        "models": models,
        "status": "ACTIVE",
        "type": "APPLICATION",
    }


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "no"}}, "GetInferenceProfile")


class FakeBedrock:
    """Answers GetInferenceProfile from a script of responses/errors and records every call."""

    def __init__(self, *script: dict[str, Any] | Exception) -> None:
        self.script = list(script)
        self.calls: list[str] = []

    def get_inference_profile(self, *, inferenceProfileIdentifier: str) -> dict[str, Any]:
        self.calls.append(inferenceProfileIdentifier)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        return step


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_models_other_than_application_profiles_pass_through_without_a_call() -> None:
    fake = FakeBedrock(answer(model_arns(HAIKU_45, "us-east-1")))
    resolver = ProfileResolver(client=fake)
    for model_id in (HAIKU_45, f"us.{HAIKU_45}", f"arn:aws:bedrock:us-east-1:{ACCT}:provisioned-model/x"):
        model = parse_model_id(model_id)
        assert resolver.resolve(model) is model
    assert fake.calls == []


def test_single_region_profile_resolves_to_its_model_in_region_and_is_cached() -> None:
    fake = FakeBedrock(answer(model_arns(HAIKU_45, "us-east-1")))
    resolver = ProfileResolver(client=fake)

    first = resolver.resolve(PROFILE)
    second = resolver.resolve(PROFILE)

    assert first == ModelRef(PROFILE_ARN, HAIKU_45, Scope.IN_REGION, ModelKind.FOUNDATION, None)
    assert second == first
    assert fake.calls == [PROFILE_ARN]  # the second resolve made no call
    assert resolver.api_calls == 1


@pytest.mark.parametrize(
    ("regions", "scope", "geo"),
    [
        (("us-east-1", "us-east-2", "us-west-2"), Scope.GEO, "us"),
        (("eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1"), Scope.GEO, "eu"),
        (("us-east-1", "eu-west-1", "ap-northeast-1", "sa-east-1"), Scope.GLOBAL, None),
    ],
)
def test_profile_copied_from_a_cross_region_profile_takes_the_scope_of_its_regions(
    regions: tuple[str, ...], scope: Scope, geo: str | None
) -> None:
    resolver = ProfileResolver(client=FakeBedrock(answer(model_arns(HAIKU_45, *regions))))
    resolved = resolver.resolve(PROFILE)
    assert (resolved.base_id, resolved.scope, resolved.geo, resolved.kind) == (
        HAIKU_45,
        scope,
        geo,
        ModelKind.SYSTEM_PROFILE,
    )


@pytest.mark.parametrize(
    ("regions", "expected"),
    [
        (["us-west-2"], (Scope.IN_REGION, None)),
        (["us-west-2", "us-west-2"], (Scope.IN_REGION, None)),
        (["ap-northeast-1", "ap-northeast-3"], (Scope.GEO, "jp")),
        (["ap-southeast-2", "ap-southeast-4"], (Scope.GEO, "au")),
        (["ap-northeast-1", "ap-south-1", "ap-southeast-2"], (Scope.GEO, "apac")),
        (["ca-central-1", "ca-west-1"], (Scope.GEO, "ca")),
        (["us-gov-west-1", "us-gov-east-1"], (Scope.GEO, "us-gov")),
        (["us-east-1", "ca-central-1"], (Scope.GLOBAL, None)),
    ],
)
def test_scope_rule(regions: list[str], expected: tuple[Scope, str | None]) -> None:
    assert scope_of_regions(regions) == expected


@pytest.mark.parametrize(
    ("mapped", "expected"),
    [
        (HAIKU_45, ModelRef(PROFILE_ARN, HAIKU_45, Scope.IN_REGION, ModelKind.FOUNDATION, None)),
        (f"us.{HAIKU_45}", ModelRef(PROFILE_ARN, HAIKU_45, Scope.GEO, ModelKind.SYSTEM_PROFILE, "us")),
        (f"global.{HAIKU_45}", ModelRef(PROFILE_ARN, HAIKU_45, Scope.GLOBAL, ModelKind.SYSTEM_PROFILE, None)),
    ],
)
def test_static_map_wins_and_makes_no_call(mapped: str, expected: ModelRef) -> None:
    fake = FakeBedrock(client_error("AccessDeniedException"))
    resolver = ProfileResolver({PROFILE_ARN: mapped}, client=fake)
    assert resolver.resolve(PROFILE) == expected
    assert fake.calls == []


@pytest.mark.parametrize(
    ("static_map", "names"),
    [
        ({PROFILE_ARN: ""}, PROFILE_ARN),
        ({PROFILE_ARN: 7}, PROFILE_ARN),
        ({"my-profile": HAIKU_45}, "my-profile"),
        ([PROFILE_ARN], "JSON object"),
    ],
)
def test_static_map_must_map_profile_arns_to_model_ids(static_map: Any, names: str) -> None:
    with pytest.raises(ConfigurationError, match="InferenceProfileMap") as err:
        ProfileResolver(static_map)
    assert names in str(err.value)


def test_access_denied_leaves_the_profile_unresolved_and_is_not_retried_for_a_while() -> None:
    clock = Clock()
    fake = FakeBedrock(client_error("AccessDeniedException"), answer(model_arns(HAIKU_45, "us-east-1")))
    resolver = ProfileResolver(client=fake, clock=clock, failure_ttl_seconds=300)

    assert resolver.resolve(PROFILE) is PROFILE  # unresolved: priced as UnpricedRequests
    assert resolver.failure(PROFILE_ARN) == "AccessDeniedException"
    clock.now += 299
    assert resolver.resolve(PROFILE) is PROFILE
    assert len(fake.calls) == 1  # the cached failure spared the API

    clock.now += 2  # the failure expired: ask again, and this time it works
    assert resolver.resolve(PROFILE).base_id == HAIKU_45
    assert len(fake.calls) == 2
    assert resolver.failure(PROFILE_ARN) is None


def test_throttling_is_retried_with_backoff() -> None:
    sleeps: list[float] = []
    fake = FakeBedrock(
        client_error("ThrottlingException"),
        client_error("ThrottlingException"),
        answer(model_arns(HAIKU_45, "us-east-1")),
    )
    resolver = ProfileResolver(client=fake, sleep=sleeps.append)
    assert resolver.resolve(PROFILE).base_id == HAIKU_45
    assert len(fake.calls) == 3
    assert sleeps == [0.2, 0.4]


def test_persistent_throttling_gives_up_and_reports_it() -> None:
    sleeps: list[float] = []
    fake = FakeBedrock(client_error("ThrottlingException"))
    resolver = ProfileResolver(client=fake, sleep=sleeps.append)
    assert resolver.resolve(PROFILE) is PROFILE
    assert len(fake.calls) == 3
    assert resolver.failure(PROFILE_ARN) == "ThrottlingException"


@pytest.mark.parametrize(
    "response",
    [
        answer([]),
        answer(model_arns(HAIKU_45, "us-east-1") + model_arns("amazon.nova-pro-v1:0", "us-west-2")),
        {"unexpected": True},
    ],
)
def test_an_answer_that_names_no_single_model_leaves_the_profile_unresolved(response: dict[str, Any]) -> None:
    resolver = ProfileResolver(client=FakeBedrock(response))
    assert resolver.resolve(PROFILE) is PROFILE
    assert resolver.failure(PROFILE_ARN) == "LookupError"


def test_profile_wrapping_a_custom_model_resolves_to_an_unpriced_provisioned_model() -> None:
    custom = f"arn:aws:bedrock:us-east-1:{ACCT}:custom-model/amazon.nova-lite-v1:0:300k/abc"
    resolver = ProfileResolver(client=FakeBedrock(answer([{"modelArn": custom}])))
    assert resolver.resolve(PROFILE).kind is ModelKind.PROVISIONED


# ---- the real boto3 client shapes (botocore Stubber) ----------------------------------------


def test_real_bedrock_client_request_and_response_shapes() -> None:
    client = boto3.client("bedrock", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "get_inference_profile",
            answer(model_arns(HAIKU_45, "us-east-1", "us-east-2", "us-west-2")),
            {"inferenceProfileIdentifier": PROFILE_ARN},
        )
        resolver = ProfileResolver(client=client)
        resolved = resolver.resolve(PROFILE)
        assert resolver.resolve(PROFILE) == resolved
        stub.assert_no_pending_responses()
    assert (resolved.base_id, resolved.scope, resolved.geo) == (HAIKU_45, Scope.GEO, "us")


def test_real_client_errors_are_reported_by_code() -> None:
    client = boto3.client("bedrock", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("get_inference_profile", "ResourceNotFoundException", http_status_code=404)
        resolver = ProfileResolver(client=client)
        assert resolver.resolve(PROFILE) is PROFILE
    assert resolver.failure(PROFILE_ARN) == "ResourceNotFoundException"


def test_without_a_client_one_is_created_lazily_in_the_profile_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[str | None] = []
    fake = FakeBedrock(answer(model_arns(HAIKU_45, "eu-west-1")))

    def client(service: str, *, region_name: str | None = None, config: Any = None) -> FakeBedrock:
        assert service == "bedrock"
        created.append(region_name)
        return fake

    monkeypatch.setattr(boto3, "client", client)
    resolver = ProfileResolver()
    assert created == []  # nothing until a profile needs resolving
    eu_profile = parse_model_id(f"arn:aws:bedrock:eu-west-1:{ACCT}:application-inference-profile/p1")
    resolver.resolve(eu_profile)
    resolver.resolve(parse_model_id(f"arn:aws:bedrock:eu-west-1:{ACCT}:application-inference-profile/p2"))
    assert created == ["eu-west-1"]  # one client per region, reused


def test_the_record_modules_do_not_import_boto3() -> None:
    code = (
        "import sys, bedrock_watch.records, bedrock_watch.pricing, bedrock_watch.profiles; "
        "sys.exit(1 if 'boto3' in sys.modules or 'botocore' in sys.modules else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=Path(__file__).resolve().parents[3] / "layers" / "core"
    )
    assert result.returncode == 0, "boto3 was imported at module level (cold-start budget)"
