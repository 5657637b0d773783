"""The stack can be deployed in some order: no circular dependency once SAM has expanded it.

`sam validate --lint` does not catch a cycle that runs through resources SAM generates (a
function's role, its Function URL): e.g. function A's URL in function B's environment, B in a
state machine, and A's role naming that state machine. CloudFormation rejects such a stack at
deploy time ("Circular dependency between resources"); this test finds it here, offline.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sandbox.intrinsics import (
    default_foreach_hook,
    expand_template,
    references,
    resolve_parameters,
    without_foreach,
)
from sandbox.template import load_template


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def _transformed() -> dict[str, Any]:
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(load_template())
    expanded, _ = expand_template(template, resolve_parameters(template), default_foreach_hook())
    expanded["Resources"] = without_foreach(expanded["Resources"])
    expanded["Outputs"] = without_foreach(expanded.get("Outputs") or {})
    for spec in expanded["Resources"].values():
        props = spec.get("Properties") or {}
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):
                props[key] = "s3://bucket/key"  # SAM only translates packaged artifacts
    result: dict[str, Any] = transform(expanded, {}, _NoManagedPolicies())
    return result


def find_cycle(resources: dict[str, Any]) -> list[str] | None:
    """A dependency cycle among resources (Ref/GetAtt/Sub/DependsOn), as a path, or None."""
    graph: dict[str, set[str]] = {}
    for name, spec in resources.items():
        depends = spec.get("DependsOn") or []
        depends = [depends] if isinstance(depends, str) else list(depends)
        graph[name] = (references(spec.get("Properties") or {}) | set(depends)) & set(resources)
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for dependency in sorted(graph[node]):
            if cycle := visit(dependency, [*path, node]):
                return cycle
        done.add(node)
        return None

    for node in sorted(graph):
        if cycle := visit(node, []):
            return cycle
    return None


def test_find_cycle_reports_the_path() -> None:
    resources = {
        "A": {"Properties": {"X": {"Fn::GetAtt": ["B", "Arn"]}}},
        "B": {"Properties": {"Y": {"Fn::Sub": "${C}"}}},
        "C": {"DependsOn": "A"},
        "D": {"Properties": {"Z": {"Ref": "A"}}},
    }
    assert find_cycle(resources) == ["A", "B", "C", "A"]
    del resources["C"]["DependsOn"]
    assert find_cycle(resources) is None


@pytest.mark.usefixtures("_region")
def test_the_deployed_template_has_no_circular_dependency() -> None:
    cycle = find_cycle(_transformed()["Resources"])
    assert cycle is None, "CloudFormation would refuse the stack: " + " -> ".join(cycle or [])


@pytest.fixture
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # SAM's ARN helpers need a region
