"""The default MonitoredModels watch the series the default Routes produce.

AWS/Bedrock reports `ModelId` exactly as the caller invoked it (a `us.` profile id stays a profile
id), and Claude Sonnet/Haiku 4.5 can only be called on demand through a profile: a per-model
alarm on the base id would watch a series that never gets data. And an entry's route must be a
declared route whose model it is, or its failover fails in Validate (or switches a route that
never called the model)."""

from __future__ import annotations

from typing import Any

from bedrock_watch.contract import AWS_BEDROCK_NAMESPACE, TAG_ROUTE
from bedrock_watch.deploycheck import parse_monitored_models
from bedrock_watch.routes import parse_declarations
from sandbox.cfn_expand import render
from sandbox.template import parameter_defaults


def _bedrock_model_ids(props: dict[str, Any]) -> set[str]:
    """The AWS/Bedrock ModelId dimension values an alarm reads."""
    metrics = [props, *(q["MetricStat"]["Metric"] for q in props.get("Metrics", []) if "MetricStat" in q)]
    return {
        d["Value"]
        for m in metrics
        if m.get("Namespace") == AWS_BEDROCK_NAMESPACE
        for d in m.get("Dimensions", [])
        if d["Name"] == "ModelId"
    }


def test_the_default_per_model_alarms_watch_the_ids_the_default_routes_call() -> None:
    # Given the template's default parameters
    defaults = parameter_defaults()
    routes = parse_declarations(defaults["Routes"])
    called = {model: name for name, spec in routes.items() for model in spec.candidates}
    # When the template is rendered with them
    alarms = {
        lid: r
        for lid, r in render().resources.items()
        if r["Type"] == "AWS::CloudWatch::Alarm" and _bedrock_model_ids(r["Properties"])
    }
    # Then there are per-model alarms, and every ModelId they read is one a default route calls,
    # tagged with that route
    assert len(alarms) == 7
    for lid, alarm in alarms.items():
        tags = {t["Key"]: t["Value"] for t in alarm["Properties"]["Tags"]}
        for model_id in _bedrock_model_ids(alarm["Properties"]):
            assert model_id in called, f"{lid} watches {model_id}, which no default route calls"
            assert tags[TAG_ROUTE] == called[model_id], lid
    # and the model they watch is what the chat route calls first, as it calls it (a profile id)
    watched = set().union(*(_bedrock_model_ids(a["Properties"]) for a in alarms.values()))
    assert watched == {routes["chat"].primary}
    assert watched == {"us.anthropic.claude-sonnet-4-5-20250929-v1:0"}


def test_every_default_monitored_models_route_is_declared_in_routes() -> None:
    defaults = parameter_defaults()
    routes = parse_declarations(defaults["Routes"])
    models, problems = parse_monitored_models(defaults["MonitoredModels"], routes)
    assert problems == []
    assert models
    assert all(m.route in routes and m.model_id in routes[m.route].candidates for m in models)


def test_the_default_routes_call_sonnet_and_haiku_45_through_a_profile() -> None:
    # Sonnet/Haiku 4.5 have no on-demand base-id invocation: a route calling the base id fails
    for spec in parse_declarations(parameter_defaults()["Routes"]).values():
        for model in spec.candidates:
            if "claude-sonnet-4-5" in model or "claude-haiku-4-5" in model:
                assert model.split(".", 1)[0] in {"us", "eu", "apac", "jp", "au", "global"}, model
