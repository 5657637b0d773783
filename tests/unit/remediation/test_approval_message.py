"""The approval request as an escalation-channel message, and its delivery that never stops at one failure."""

from __future__ import annotations

from bedrock_watch.approvals import ApprovalLinks, approval_message, notify_approvers
from bedrock_watch.channels import ChannelUnavailable
from bedrock_watch.pages import Message

LINKS = ApprovalLinks(
    approve="https://x/?decision=approve&token=a", reject="https://x/?decision=reject&token=r"
)
REQUEST = {"action": "failover", "route": "chat", "reason": "throttling", "executionName": "run-1"}
PLAN = {"previous": "anthropic.claude-sonnet-4-5", "why": "first healthy fallback"}


class Recording:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[Message] = []
        self.fail = fail

    def send(self, message: Message) -> None:
        if self.fail:
            raise ChannelUnavailable("HTTP 500 after 3 attempts")
        self.sent.append(message)


def test_the_message_names_the_change_and_carries_both_links() -> None:
    message = approval_message(
        request=REQUEST, plan=PLAN, target="global.x", approval=LINKS, timeout_seconds=900
    )
    text = message.text()
    assert message.title == "Approval needed: failover route chat to global.x"
    assert "within 15 minute(s)" in message.summary
    assert ("Approve", LINKS.approve) in message.links
    assert ("Reject", LINKS.reject) in message.links
    assert "From: anthropic.claude-sonnet-4-5" in text
    assert message.incident_id == "approval-run-1"
    assert message.ack_url == ""  # no acknowledge button: approving is done through the links


def test_a_failing_channel_is_reported_and_the_others_still_get_the_request() -> None:
    good, bad = Recording(), Recording(fail=True)
    message = approval_message(
        request=REQUEST, plan=PLAN, target="global.x", approval=LINKS, timeout_seconds=60
    )

    failures = notify_approvers({"slack:devops": bad, "sns:devops": good}, message)

    assert failures == ["slack:devops: ChannelUnavailable: HTTP 500 after 3 attempts"]
    assert good.sent == [message]
