"""Planning: which model becomes active and why, for each action and route state."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bedrock_watch.remediation import (
    InvalidInput,
    NoHealthyTarget,
    RemediationRequest,
    check_against_route,
    choose_healthy,
    parse_request,
    plan,
)
from bedrock_watch.routes import Route, RouteSpec, StoredRoute

PRIMARY = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
FB1 = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
FB2 = "us.amazon.nova-pro-v1:0"
CHEAP = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
SPEC = RouteSpec(primary=PRIMARY, fallbacks=(FB1, FB2), cheaper=CHEAP)


def on(active: str, spec: RouteSpec = SPEC) -> StoredRoute:
    return StoredRoute(Route(name="chat", spec=spec, active=active, version=4), ssm_version=9)


def request(action: str, target: str | None = None) -> RemediationRequest:
    return RemediationRequest(action=action, route="chat", target=target)


def test_failover_from_the_primary_tries_the_fallbacks_in_order() -> None:
    p = plan(request("failover"), on(PRIMARY))
    assert p.candidates == (FB1, FB2)
    assert p.target == FB1
    assert p.previous == PRIMARY
    assert not p.noop
    assert (p.ssm_version, p.route_version) == (9, 4)


def test_failover_from_a_fallback_skips_the_one_that_is_active() -> None:
    assert plan(request("failover"), on(FB1)).candidates == (FB2,)


def test_failover_to_a_named_target_tries_only_that_target() -> None:
    assert plan(request("failover", FB2), on(PRIMARY)).candidates == (FB2,)


def test_failover_with_no_other_fallback_has_no_target() -> None:
    with pytest.raises(NoHealthyTarget, match="no fallback"):
        plan(request("failover"), on(FB1, RouteSpec(primary=PRIMARY, fallbacks=(FB1,))))


@pytest.mark.parametrize(
    ("action", "active", "expected"),
    [
        ("downgrade", PRIMARY, CHEAP),
        ("downgrade", FB1, CHEAP),
        ("failback", FB1, PRIMARY),
        ("failback", FB2, PRIMARY),
        ("restore", CHEAP, PRIMARY),
    ],
)
def test_actions_that_switch(action: str, active: str, expected: str) -> None:
    p = plan(request(action), on(active))
    assert (p.target, p.noop) == (expected, False)
    assert expected in p.why


@pytest.mark.parametrize(
    ("action", "active", "why"),
    [
        ("downgrade", CHEAP, "already uses its cheaper variant"),
        ("failback", PRIMARY, "already uses its primary"),
        ("restore", PRIMARY, "already uses its primary"),
        # neither undoes the other kind of switch: the primary may still be failing
        ("failback", CHEAP, "use restore"),
        ("restore", FB1, "use failback"),
    ],
)
def test_actions_that_change_nothing_say_why(action: str, active: str, why: str) -> None:
    p = plan(request(action), on(active))
    assert p.noop
    assert p.target is None
    assert why in p.why


def test_plan_dict_is_what_the_workflow_reads() -> None:
    d = plan(request("failover"), on(PRIMARY)).to_dict()
    assert d["target"] == FB1
    assert d["candidates"] == [FB1, FB2]


def test_choose_healthy_skips_failing_candidates_and_says_why() -> None:
    errors = {FB1: "ThrottlingException"}
    result = choose_healthy([FB1, FB2], errors.get)
    assert result.target == FB2
    assert result.skipped == ({"model": FB1, "error": "ThrottlingException"},)


def test_choose_healthy_lists_every_failure_when_nothing_answers() -> None:
    with pytest.raises(NoHealthyTarget) as err:
        choose_healthy([FB1, FB2], lambda m: "ServiceUnavailableException")
    assert FB1 in str(err.value)
    assert FB2 in str(err.value)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (None, "input"),
        ({"route": "chat"}, "action"),
        ({"action": "reboot", "route": "chat"}, "action"),
        ({"action": "failover"}, "route"),
        ({"action": "failover", "route": ""}, "route"),
        ({"action": "failover", "route": "chat", "target": 3}, "target"),
        ({"action": "failover", "route": "chat", "dryRun": "true"}, "dryRun"),
        ({"action": "failover", "route": "chat", "requireApproval": None}, "requireApproval"),
        ({"action": "failover", "route": "chat", "reason": "x" * 501}, "reason"),
        ({"action": "failover", "route": "chat", "Route": "chat"}, "Route"),
    ],
)
def test_bad_requests_name_the_field(raw: object, field: str) -> None:
    with pytest.raises(InvalidInput, match=f"^{field}:"):
        parse_request(raw)


def test_a_console_request_with_a_comment_is_accepted() -> None:
    r = parse_request({"action": "downgrade", "route": "chat", "comment": "why not", "dryRun": True})
    assert r == RemediationRequest(
        action="downgrade", route="chat", reason="downgrade requested", dry_run=True
    )


@pytest.mark.parametrize(
    ("req", "spec", "message"),
    [
        (request("failover", "openai.gpt-oss-120b-1:0"), SPEC, "^target: .* is not a candidate"),
        (request("failback", FB1), SPEC, "^target: failback always returns"),
        (request("downgrade"), RouteSpec(primary=PRIMARY, fallbacks=(FB1,)), "^route: .* no cheaper variant"),
    ],
)
def test_requests_the_route_cannot_serve_are_refused(
    req: RemediationRequest, spec: RouteSpec, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_against_route(req, Route(name="chat", spec=spec, active=PRIMARY))


def test_an_alarm_does_not_walk_a_failed_over_route_down_its_fallbacks() -> None:
    alarm_request = RemediationRequest(
        action="failover", route="chat", alarm_name="bedrock-watch.chat-errors"
    )
    p = plan(alarm_request, on(FB1))
    assert p.noop
    assert "already moved off its primary" in p.why
    # a person in the console may still move on to the next fallback
    assert plan(request("failover"), on(FB1)).target == FB2


MODELS = st.sampled_from(
    [PRIMARY, FB1, FB2, CHEAP, "amazon.nova-lite-v1:0", "meta.llama3-3-70b-instruct-v1:0"]
)


@st.composite
def routes(draw: st.DrawFn) -> StoredRoute:
    primary = draw(MODELS)
    fallbacks = tuple(draw(st.lists(MODELS.filter(lambda m: m != primary), unique=True, max_size=3)))
    cheaper = draw(st.one_of(st.none(), MODELS))
    spec = RouteSpec(primary=primary, fallbacks=fallbacks, cheaper=cheaper)
    return on(draw(st.sampled_from(spec.candidates)), spec)


@given(stored=routes(), action=st.sampled_from(["failover", "failback", "downgrade", "restore"]))
def test_a_plan_only_ever_targets_other_models_the_route_declares(stored: StoredRoute, action: str) -> None:
    req = request(action)
    try:
        check_against_route(req, stored.route)
        p = plan(req, stored)
    except (InvalidInput, NoHealthyTarget):
        return
    assert p.noop == (not p.candidates)
    assert set(p.candidates) <= set(stored.route.spec.candidates)
    assert stored.route.active not in p.candidates
    assert p.previous == stored.route.active
