"""Escalation policy: the defaults the issue asks for, and a clear error for every bad document."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bedrock_watch.policy import DEFAULT_POLICY, PolicyError, parse_policy, plan
from sandbox.events import load_event


def test_default_critical_policy_pages_devops_then_seniors_management_executives() -> None:
    steps = plan(parse_policy("default")["critical"])

    assert [(s.tier, s.at_seconds) for s in steps] == [
        ("devops", 0),
        ("senior-engineers", 900),
        ("management", 1800),
        ("executives", 3600),
    ]
    # each tier waits for an ack until the next is due; the last waits the final timeout
    assert [s.ack_timeout_seconds for s in steps] == [900, 900, 1800, 1800]


def test_default_warning_policy_pages_devops_and_repeats_once_after_30_minutes() -> None:
    steps = plan(parse_policy("default")["warning"])

    assert [(s.tier, s.round, s.at_seconds) for s in steps] == [("devops", 0, 0), ("devops", 1, 1800)]
    assert steps[0].ack_timeout_seconds == 1800


def test_the_sample_policy_in_events_is_valid() -> None:
    policy = parse_policy(load_event("escalation/policy"))
    assert [t.name for t in policy["critical"].tiers][-1] == "executives"


def test_policy_given_as_json_text_is_the_same_as_the_parsed_document() -> None:
    assert parse_policy(json.dumps(DEFAULT_POLICY)) == parse_policy(DEFAULT_POLICY)


def _with(**changes: object) -> dict[str, object]:
    doc = json.loads(json.dumps(DEFAULT_POLICY))
    doc["critical"].update(changes)
    return doc


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ({"critical": DEFAULT_POLICY["critical"]}, "no entry for severities ['warning']"),
        ({**DEFAULT_POLICY, "info": DEFAULT_POLICY["warning"]}, "unknown severities ['info']"),
        (_with(tiers=[]), "critical.tiers must be a non-empty list"),
        (
            _with(tiers=[{"name": "devops", "after_seconds": 0, "channels": ["email"]}]),
            "critical.tiers[0].channels[0]: unknown channel type 'email'",
        ),
        (
            _with(tiers=[{"name": "devops", "after_seconds": 0, "channels": ["slack:bad target!"]}]),
            "critical.tiers[0].channels[0]: target",
        ),
        (
            _with(tiers=[{"name": "devops", "after_seconds": -5, "channels": ["sns"]}]),
            "critical.tiers[0].after_seconds must be between 0",
        ),
        (
            _with(tiers=[{"name": "devops", "after_seconds": "0", "channels": ["sns"]}]),
            "critical.tiers[0].after_seconds must be a whole number",
        ),
        (
            _with(
                tiers=[
                    {"name": "a", "after_seconds": 60, "channels": ["sns"]},
                    {"name": "b", "after_seconds": 60, "channels": ["sns"]},
                ]
            ),
            "critical.tiers[1].after_seconds (60) must be later than tiers[0] (60)",
        ),
        (_with(repeat=2), "critical.repeat_after_seconds is required when repeat > 0"),
        (_with(repeat=11), "critical.repeat must be an integer from 0 to 10"),
        (_with(final_ack_timeout_seconds=0), "critical.final_ack_timeout_seconds must be at least 1"),
        (_with(escalate_to="ceo"), "critical has unknown keys ['escalate_to']"),
        (
            _with(tiers=[{"name": "devops", "after_seconds": 0, "channels": []}]),
            "critical.tiers[0].channels must be",
        ),
        (_with(tiers=[{"after_seconds": 0, "channels": ["sns"]}]), "critical.tiers[0].name"),
    ],
)
def test_a_bad_policy_is_refused_with_an_error_naming_the_field(document: object, message: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(document)  # type: ignore[arg-type]
    assert message in str(err.value)


def test_repeats_follow_the_last_tier_after_the_repeat_delay() -> None:
    doc = _with(
        tiers=[
            {"name": "devops", "after_seconds": 0, "channels": ["sns"]},
            {"name": "seniors", "after_seconds": 10, "channels": ["sns"]},
        ],
        repeat=1,
        repeat_after_seconds=5,
        final_ack_timeout_seconds=3,
    )
    steps = plan(parse_policy(doc)["critical"])

    assert [(s.tier, s.round, s.at_seconds, s.ack_timeout_seconds) for s in steps] == [
        ("devops", 0, 0, 10),
        ("seniors", 0, 10, 5),
        ("devops", 1, 15, 10),
        ("seniors", 1, 25, 3),
    ]


@st.composite
def _severity_policies(draw: st.DrawFn) -> dict[str, object]:
    offsets = sorted(draw(st.sets(st.integers(0, 7200), min_size=1, max_size=6)))
    repeat = draw(st.integers(0, 3))
    return {
        "tiers": [
            {"name": f"tier{i}", "after_seconds": s, "channels": ["sns"]} for i, s in enumerate(offsets)
        ],
        "repeat": repeat,
        **({"repeat_after_seconds": draw(st.integers(1, 3600))} if repeat else {}),
        "final_ack_timeout_seconds": draw(st.integers(1, 3600)),
    }


@given(_severity_policies())
def test_every_page_waits_exactly_until_the_next_is_due_and_the_last_waits_the_final_timeout(
    severity_policy: dict[str, object],
) -> None:
    parsed = parse_policy({"critical": severity_policy, "warning": severity_policy})["critical"]
    steps = plan(parsed)

    assert len(steps) == len(parsed.tiers) * (parsed.repeat + 1)
    assert [s.index for s in steps] == list(range(len(steps)))
    for page, following in itertools.pairwise(steps):
        assert following.at_seconds - page.at_seconds == page.ack_timeout_seconds >= 1
    assert steps[-1].ack_timeout_seconds == parsed.final_ack_timeout_seconds
