"""The ConfigurationCheck resource as template.yaml declares it: it is handed exactly the parameters
bedrock_watch.deploycheck checks, runs with no AWS permission, and everything that acts on the
configuration waits for it (so a refused configuration creates none of it)."""

from __future__ import annotations

from typing import Any

from bedrock_watch.deploycheck import CHECKED_PARAMETERS
from sandbox.cfn_expand import expand_foreach
from sandbox.template import load_template

# What reads a checked parameter and acts on it: seeds routes, meters with the prices and
# profile map, pages with the policy, downgrades budget routes, alarms on the monitored models.
ACTING = (
    "RoutesDeclaration",
    "InvocationLogging",
    "InvocationMetricsFunction",
    "BudgetGuardFunction",
    "EscalationOpenFunction",
    "RemediationTriggerFunction",
)


def _depends_on(resource: dict[str, Any]) -> set[str]:
    depends = resource.get("DependsOn") or []
    return {depends} if isinstance(depends, str) else set(depends)


def test_the_check_is_handed_exactly_the_parameters_it_checks() -> None:
    template = load_template()
    props = dict(template["Resources"]["ConfigurationCheck"]["Properties"])
    assert props.pop("ServiceToken") == {"Fn::GetAtt": ["ConfigurationCheckFunction", "Arn"]}
    assert props == {name: {"Ref": name} for name in CHECKED_PARAMETERS}
    assert set(CHECKED_PARAMETERS) <= set(template["Parameters"])


def test_the_check_calls_no_aws_api_so_its_role_grants_none() -> None:
    function = load_template()["Resources"]["ConfigurationCheckFunction"]["Properties"]
    assert "Policies" not in function
    assert function["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
    assert function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Type"] == "SQS"


def test_everything_that_acts_on_the_configuration_waits_for_the_check() -> None:
    resources = expand_foreach(load_template())["Resources"]
    waiting = [lid for lid in ACTING if "ConfigurationCheck" in _depends_on(resources[lid])]
    assert waiting == list(ACTING)
    model_alarms = [
        lid
        for lid, r in resources.items()
        if r.get("Type") == "AWS::CloudWatch::Alarm"
        and any(
            d.get("Name") == "ModelId"
            for q in [
                r["Properties"],
                *(m.get("MetricStat", {}).get("Metric", {}) for m in r["Properties"].get("Metrics", [])),
            ]
            for d in q.get("Dimensions", [])
        )
    ]
    assert model_alarms, "no per-model alarm found"
    assert [lid for lid in model_alarms if "ConfigurationCheck" not in _depends_on(resources[lid])] == []
