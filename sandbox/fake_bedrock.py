"""A fake Bedrock Converse for moto (which does not implement it, FACTS §8).

`fake_converse()` adds `converse` to moto's bedrock-runtime responses: a model answers with one
token, or fails with the error code the test (or the sandbox drill) set for it, sent as Bedrock
sends it (HTTP status + `x-amzn-ErrorType`), so botocore raises the real ClientError and code
under test runs unchanged. Calls are recorded (model id and maxTokens only: no content).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock
from urllib.parse import unquote

# Bedrock's HTTP status per error code (FACTS §1.2).
STATUS = {
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "ServiceQuotaExceededException": 400,
    "ModelTimeoutException": 408,
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelErrorException": 424,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}


@dataclass
class FakeBedrock:
    """Per-model failure codes (absent = healthy) and the calls made."""

    failures: dict[str, str] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, model: str, code: str = "ServiceUnavailableException") -> None:
        self.failures[model] = code

    def heal(self, model: str) -> None:
        self.failures.pop(model, None)


@contextlib.contextmanager
def fake_converse() -> Iterator[FakeBedrock]:
    """Patch moto so bedrock-runtime Converse answers from a FakeBedrock."""
    from moto.bedrockruntime.responses import BedrockRuntimeResponse

    fake = FakeBedrock()

    def converse(self: Any) -> Any:
        model = unquote(self.path.split("/model/", 1)[1].rsplit("/converse", 1)[0])
        body = json.loads(self.body or "{}")
        fake.calls.append({"modelId": model, "maxTokens": body.get("inferenceConfig", {}).get("maxTokens")})
        code = fake.failures.get(model)
        if code:
            status = STATUS.get(code, 500)
            return (
                status,
                # moto reads the status from the headers when a handler returns a tuple
                {"status": status, "x-amzn-ErrorType": code, "content-type": "application/json"},
                json.dumps({"message": f"{code} (fake Bedrock)"}),
            )
        answer = {
            "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
            "stopReason": "max_tokens",
            "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 12},
        }
        return 200, {"content-type": "application/json"}, json.dumps(answer)

    with mock.patch.object(BedrockRuntimeResponse, "converse", converse, create=True):
        yield fake
