"""The route store's version check against moto SSM + DynamoDB, and the stack's route seeding."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bedrock_watch.routes import RouteStore, VersionConflict
from tests.integration.remediation.harness import Stack, seed_routes


def store(stack: Stack, ssm: Any = None) -> RouteStore:
    return RouteStore(
        stack.route_prefix, stack.physical("RemediationStateTable"), ssm=ssm or stack.client("ssm")
    )


def test_two_writers_that_read_the_same_version_cannot_both_write(stack: Stack) -> None:
    # Given two writers read route chat at the same version
    a, b = store(stack), store(stack)
    read_a, read_b = a.get("chat"), b.get("chat")
    fallback = read_a.route.spec.fallbacks[0]

    # When the first writes
    a.write(read_a.route.switched(fallback, by="a", at="t", reason="a"), read_a.ssm_version)

    # Then the second is refused and the first write stands
    with pytest.raises(VersionConflict):
        b.write(
            read_b.route.switched(read_b.route.spec.cheaper or "", by="b", at="t", reason="b"),
            read_b.ssm_version,
        )
    assert stack.route()["active"] == fallback


def test_the_version_claim_alone_refuses_a_second_writer(stack: Stack) -> None:
    # Two writers pass the SSM re-read at the same instant: only one can claim the next version.
    s = store(stack)
    read = s.get("chat")
    s._claim("chat", read.ssm_version + 1)
    with pytest.raises(VersionConflict, match="another remediation"):
        s._claim("chat", read.ssm_version + 1)


class InterleavingSSM:
    """SSM where a person's edit lands between our version check and our write."""

    def __init__(self, real: Any, edit: dict[str, Any]) -> None:
        self.real, self.edit, self.done = real, edit, False
        self.exceptions = real.exceptions

    def get_parameter(self, **kwargs: Any) -> Any:
        return self.real.get_parameter(**kwargs)

    def put_parameter(self, **kwargs: Any) -> Any:
        if not self.done:
            self.done = True
            self.real.put_parameter(
                Name=kwargs["Name"], Value=json.dumps(self.edit), Type="String", Overwrite=True
            )
        return self.real.put_parameter(**kwargs)


def test_an_edit_that_slips_in_during_the_write_is_kept_and_reported(stack: Stack) -> None:
    edit = {**stack.route(), "active": stack.route()["cheaper"], "changedBy": "alice"}
    s = store(stack, ssm=InterleavingSSM(stack.client("ssm"), edit))
    read = s.get("chat")

    with pytest.raises(VersionConflict, match="their change was kept"):
        s.write(
            read.route.switched(read.route.spec.fallbacks[0], by="me", at="t", reason="x"), read.ssm_version
        )

    assert stack.route() == edit


def test_a_stack_update_keeps_a_live_remediation_and_adds_new_routes(stack: Stack) -> None:
    # Given route chat failed over
    s = store(stack)
    read = s.get("chat")
    fallback = read.route.spec.fallbacks[0]
    s.write(read.route.switched(fallback, by="remediation", at="t", reason="failover"), read.ssm_version)
    old = stack.params["Routes"]

    # When the stack is updated with one more fallback and a new route
    declared = json.loads(old)
    declared["chat"]["fallbacks"].append("anthropic.claude-3-haiku-20240307-v1:0")
    declared["summarise"] = {"primary": "amazon.nova-lite-v1:0"}
    stack.params["Routes"] = json.dumps(declared)
    reply = seed_routes(stack, "Update", old_routes=old)

    # Then chat keeps its active fallback with the new declaration, and summarise exists
    chat = stack.route("chat")
    assert chat["active"] == fallback
    assert chat["fallbacks"][-1] == "anthropic.claude-3-haiku-20240307-v1:0"
    assert stack.route("summarise")["active"] == "amazon.nova-lite-v1:0"
    assert "arn:aws:bedrock:*::foundation-model/amazon.*" in reply["Data"]["InvokeArns"].split(",")

    # When the stack drops route summarise, its parameter goes too
    stack.params["Routes"] = old
    seed_routes(stack, "Update", old_routes=json.dumps(declared))
    with pytest.raises(stack.client("ssm").exceptions.ParameterNotFound):
        stack.client("ssm").get_parameter(Name=f"{stack.route_prefix}/summarise")


def test_a_route_over_an_application_profile_the_map_does_not_name_is_resolved_at_deploy(
    make_stack: Callable[..., Stack],
) -> None:
    # Given a route whose cheaper model is an application profile over Llama, absent from
    # InferenceProfileMap (moto has no GetInferenceProfile: sandbox.fake_profiles answers it)
    from sandbox.fake_profiles import inference_profiles, model_arn

    llama = "meta.llama3-3-70b-instruct-v1:0"
    with inference_profiles() as profiles:
        profile = profiles.add("cheap-chat", [model_arn(r, llama) for r in ("us-east-1", "us-west-2")])
        routes = {
            "chat": {
                "primary": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "fallbacks": ["us.amazon.nova-pro-v1:0"],
                "cheaper": profile,
            }
        }
        # When the stack is deployed (the seeder runs under its own role: conftest checks the call)
        stack = make_stack(Routes=json.dumps(routes), InferenceProfileMap="{}")
        # Then the seeder asked Bedrock which model the profile wraps, and the probe may invoke it
        assert profiles.calls == [profile]
        reply = seed_routes(stack, "Update", old_routes=json.dumps(routes))
        invoke_arns = reply["Data"]["InvokeArns"].split(",")
        assert "arn:aws:bedrock:*::foundation-model/meta.*" in invoke_arns
        assert any(arn.endswith(":application-inference-profile/*") for arn in invoke_arns)
        assert stack.route()["active"] == routes["chat"]["primary"]
