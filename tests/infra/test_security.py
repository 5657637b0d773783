"""Least privilege and encryption by default, over the whole template: new resources inherit the guard."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.template import load_template, resources
from tests.infra.aws_reference import star_only


def _walk_policy_statements(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "Effect" in node and "Action" in node:
            found.append(node)
        for value in node.values():
            found.extend(_walk_policy_statements(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_walk_policy_statements(item))
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, res in resources().items():
        props = res.get("Properties", {})
        for key in ("Policies", "PolicyDocument", "Policy", "ManagedPolicyArns"):
            for stmt in _walk_policy_statements(props.get(key)):
                out.append((name, stmt))
    return out


def test_no_statement_allows_every_action() -> None:
    for name, stmt in _statements():
        if stmt.get("Effect") == "Deny":
            continue  # denying every action (a TLS-only bucket policy) narrows, never grants
        for action in _as_list(stmt["Action"]):
            assert isinstance(action, str)
            assert action != "*", f"{name} allows every action"
            assert not action.endswith(":*"), f"{name} allows {action}"


def test_wildcard_resources_only_where_aws_offers_nothing_narrower() -> None:
    for name, stmt in _statements():
        if stmt.get("Effect") != "Allow" or "*" not in _as_list(stmt.get("Resource")):
            continue
        # The IAM reference decides: "*" only for actions that support no resource type.
        scoped = sorted(a for a in _as_list(stmt["Action"]) if not star_only(a))
        assert not scoped, f"{name} grants {scoped} on *, although AWS supports a narrower resource"


def test_no_full_access_managed_policies() -> None:
    for name, res in resources().items():
        for policy in _as_list(res.get("Properties", {}).get("Policies", [])):
            if isinstance(policy, str):
                assert "FullAccess" not in policy, f"{name} uses {policy}"
                assert policy not in {"AdministratorAccess", "PowerUserAccess"}


@pytest.mark.parametrize(
    ("type_", "check"),
    [
        ("AWS::SNS::Topic", lambda p: "KmsMasterKeyId" in p),
        ("AWS::SQS::Queue", lambda p: p.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in p),
        ("AWS::DynamoDB::Table", lambda p: p.get("SSESpecification", {}).get("SSEEnabled") is True),
        ("AWS::Serverless::SimpleTable", lambda p: p.get("SSESpecification", {}).get("SSEEnabled") is True),
    ],
)
def test_topics_queues_and_tables_are_encrypted(type_: str, check: Any) -> None:
    for name, res in resources(type_=type_).items():
        assert check(res.get("Properties", {})), f"{name} ({type_}) is not encrypted"


def test_no_handler_logs_whole_events() -> None:
    """Invocation logs and pages carry user data: log_event=True would copy them into our logs."""
    from sandbox.template import ROOT

    for app in (ROOT / "functions").glob("*/app.py"):
        assert "log_event=True" not in app.read_text(), app
    variables = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert variables.get("POWERTOOLS_LOGGER_LOG_EVENT") in (None, "false")
