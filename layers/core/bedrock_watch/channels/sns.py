"""SNS: email/SMS (and anything else) subscribed to the stack's escalation topic.

One topic serves every tier: each message carries `tier`, `target`, `severity` and `kind` message
attributes, and subscribers pick what they receive with a subscription filter policy
(e.g. {"tier": ["executives"]}).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from bedrock_watch.channels import ChannelUnavailable
from bedrock_watch.pages import Message

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

SUBJECT_MAX = 100


class SnsChannel:
    def __init__(self, client: SNSClient, topic_arn: str, target: str = "default") -> None:
        self.name = "sns" if target == "default" else f"sns:{target}"
        self._client = client
        self._topic_arn = topic_arn
        self._target = target

    def send(self, message: Message, ref: Mapping[str, str] | None = None) -> dict[str, str] | None:
        # tier is a list (follow-ups go to every tier paged): filter policies match any element.
        tiers = [t for t in message.tier.split(",") if t] or ["none"]
        attributes: dict[str, Any] = {"tier": {"DataType": "String.Array", "StringValue": json.dumps(tiers)}}
        attributes |= {
            key: {"DataType": "String", "StringValue": value or "none"}
            for key, value in (
                ("target", self._target),
                ("severity", message.severity),
                ("kind", message.kind),
            )
        }
        try:
            self._client.publish(
                TopicArn=self._topic_arn,
                Subject=message.title[:SUBJECT_MAX],
                Message=message.text(),
                MessageAttributes=attributes,
            )
        except (ClientError, BotoCoreError) as err:  # botocore already retried throttling
            raise ChannelUnavailable(f"{self.name}: {type(err).__name__}: {err}") from None
        return None
