"""Answering CloudFormation custom resource requests (the response goes to a presigned S3 URL)."""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bedrock_watch.limits import CUSTOM_RESOURCE_REASON_CHARS


@dataclass
class Reply:
    """What the handler fills in; sent when the `respond` block ends."""

    physical_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def _put(url: str, body: bytes) -> None:
    request = urllib.request.Request(  # noqa: S310 - CloudFormation's presigned https URL
        url, data=body, method="PUT", headers={"content-type": "", "content-length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        response.read()


@contextlib.contextmanager
def respond(event: dict[str, Any], send: Callable[[str, bytes], None] | None = None) -> Iterator[Reply]:
    """Run the block and answer CloudFormation SUCCESS with the reply, or FAILED with the error."""
    reply = Reply()
    status, reason = "SUCCESS", "ok"
    try:
        yield reply
    except Exception as err:
        status, reason = "FAILED", f"{type(err).__name__}: {err}"[:CUSTOM_RESOURCE_REASON_CHARS]
    body = {
        "Status": status,
        "Reason": reason,
        # A resource that names none keeps one stable id (never the container's log stream,
        # which would differ between a Create and its later Update and read as a replacement).
        "PhysicalResourceId": reply.physical_id
        or event.get("PhysicalResourceId")
        or event["LogicalResourceId"],
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": reply.data if status == "SUCCESS" else {},
    }
    (send or _put)(event["ResponseURL"], json.dumps(body).encode())
