"""Slack with Block Kit: facts, links and an Acknowledge button; through an incoming webhook (a new
message each time) or, with a bot token and a channel id, chat.postMessage (one thread per
incident: the page is the parent, every later notice a reply).

The button carries the signed acknowledge token as its value (Slack posts it back to the ack
endpoint, signed with the app's signing secret) and the acknowledge link as its URL, so it also
works when the Slack app has no interactivity configured.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bedrock_watch.channels import ChannelRejected
from bedrock_watch.channels.http import HttpClient
from bedrock_watch.pages import Message

ACK_ACTION_ID = "bedrock_watch_ack"
API_URL = "https://slack.com/api"
SECTION_MAX = 3000  # characters of a section block's text


def mrkdwn(text: str) -> str:
    """Text shown literally in a Slack mrkdwn field: Slack's three control characters escaped, so
    `<!channel>` cannot ping everyone and `<https://…|…>` cannot render as a link (Slack's
    "Escaping text" rule: &, <, > as HTML entities, nothing else)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str, label: str) -> str:
    return f"<{mrkdwn(url).replace('|', '%7C')}|{mrkdwn(label)}>"


def _chunks(text: str, size: int = SECTION_MAX, most: int = 5) -> list[str]:
    """Text in section-sized pieces, split between lines (a digest's list is longer than one
    section's 3,000 characters); at most `most` pieces, the last cut short."""
    pieces: list[str] = []
    current = ""
    for whole in text.split("\n"):
        line = whole
        while len(line) > size:  # one line longer than a section
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:size])
            line = line[size:]
        if current and len(current) + 1 + len(line) > size:
            pieces.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        pieces.append(current)
    return pieces[:most]


def blocks(message: Message) -> list[dict[str, Any]]:
    """Block Kit blocks for a message (every dynamic text escaped for mrkdwn)."""
    out: list[dict[str, Any]] = [
        # plain_text is never parsed for mentions or links
        {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}},
    ]
    for chunk in _chunks(mrkdwn(message.summary)):
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
    fields = [
        {"type": "mrkdwn", "text": f"*{mrkdwn(label)}*\n{mrkdwn(value)}"[:2000]}
        for label, value in message.facts
    ]
    for i in range(0, len(fields), 10):  # Slack allows 10 fields per section
        out.append({"type": "section", "fields": fields[i : i + 10]})
    if message.links:
        out.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": " · ".join(_link(url, label) for label, url in message.links)}
                ],
            }
        )
    if message.ack_token:
        out.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": ACK_ACTION_ID,
                        "style": "danger",
                        "text": {"type": "plain_text", "text": "Acknowledge"},
                        "value": message.ack_token,
                        **({"url": message.ack_url} if message.ack_url else {}),
                    }
                ],
            }
        )
    return out


class SlackChannel:
    """Incoming webhook: every message is a new message in the webhook's channel (a webhook
    answers `ok`, never the message's `ts`, so nothing can be threaded under it)."""

    def __init__(
        self,
        webhook_url: str,
        target: str = "default",
        *,
        http: HttpClient | None = None,
    ) -> None:
        self.name = "slack" if target == "default" else f"slack:{target}"
        self._url = webhook_url
        self._http = http or HttpClient()

    def send(self, message: Message, ref: Mapping[str, str] | None = None) -> dict[str, str] | None:
        # `text` is the notification and fallback; Slack parses it as mrkdwn too
        payload = {"text": mrkdwn(message.title), "blocks": blocks(message)}
        self._http.post_json(self.name, self._url, payload)
        return None


# Follow-ups everyone in the channel should see, not only those who open the thread.
BROADCAST = frozenset({"page", "final", "channel_failure", "acknowledged", "resolved"})


class SlackApiChannel:
    """A bot token and a channel id (chat.postMessage): the incident's first message is the
    thread's parent; its `ts` is kept on the incident and every later notice is a reply in that
    thread — updates quietly, pages, acknowledgements and resolutions also shown in the channel
    (`reply_broadcast`)."""

    def __init__(
        self,
        token: str,
        channel: str,
        target: str = "default",
        *,
        api_url: str = API_URL,
        http: HttpClient | None = None,
    ) -> None:
        self.name = "slack" if target == "default" else f"slack:{target}"
        self._token = token
        self._channel = channel
        self._url = api_url.rstrip("/") + "/chat.postMessage"
        self._http = http or HttpClient()

    def send(self, message: Message, ref: Mapping[str, str] | None = None) -> dict[str, str] | None:
        payload: dict[str, Any] = {
            "channel": self._channel,
            "text": mrkdwn(message.title),
            "blocks": blocks(message),
            "unfurl_links": False,
        }
        thread = ref.get("ts") if ref and ref.get("channel") == self._channel else None
        if thread:
            payload["thread_ts"] = thread
            payload["reply_broadcast"] = message.kind in BROADCAST
        response = self._http.post_json(
            self.name, self._url, payload, {"Authorization": f"Bearer {self._token}"}
        )
        try:
            answer = json.loads(response.body or b"{}")
        except ValueError:
            raise ChannelRejected(
                f"{self.name}: chat.postMessage answered something that is not JSON"
            ) from None
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            error = answer.get("error") if isinstance(answer, dict) else None
            # Slack answers HTTP 200 with ok=false: not_in_channel, invalid_auth, channel_not_found …
            raise ChannelRejected(f"{self.name}: chat.postMessage refused: {error or 'no ok in the answer'}")
        if thread:
            return {"channel": self._channel, "ts": thread}
        ts = answer.get("ts")
        return {"channel": str(answer.get("channel") or self._channel), "ts": str(ts)} if ts else None
