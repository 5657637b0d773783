"""Application inference profiles for the sandbox: moto has no bedrock:GetInferenceProfile, so the
profiles a test creates are answered through `sandbox.shims.unemulated` — behind a real botocore
client, so the call is validated, serialised and recorded with the caller's role like any other,
and the answer is parsed from the wire format of the API reference's output shape.

    with inference_profiles() as profiles:
        arn = profiles.add("chat-prod", [model_arn("us-east-1", "anthropic.claude-…")])

An identifier that is neither a profile's ARN nor its id answers ResourceNotFoundException (404),
as Bedrock does; `fail(code)` makes every call answer that error until `heal()`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.fake_bedrock import STATUS
from sandbox.intrinsics import ACCOUNT_ID, REGION
from sandbox.shims import ServiceError, unemulated


def model_arn(region: str, model_id: str) -> str:
    """A foundation model's ARN in `region` (what an application profile lists as its models)."""
    return f"arn:aws:bedrock:{region}::foundation-model/{model_id}"


@dataclass
class InferenceProfiles:
    """The account's application inference profiles, by ARN; `calls` holds every identifier asked for."""

    region: str = REGION
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    _error: str | None = None

    def add(self, name: str, models: Sequence[str]) -> str:
        """Create an application profile over `models` (foundation-model ARNs); its ARN."""
        profile_id = uuid.uuid4().hex[:12]
        arn = f"arn:aws:bedrock:{self.region}:{ACCOUNT_ID}:application-inference-profile/{profile_id}"
        now = datetime.now(UTC)
        self.profiles[arn] = {
            "inferenceProfileName": name,
            "inferenceProfileArn": arn,
            "inferenceProfileId": profile_id,
            "models": [{"modelArn": m} for m in models],
            "status": "ACTIVE",
            "type": "APPLICATION",
            "createdAt": now,
            "updatedAt": now,
        }
        return arn

    def fail(self, code: str = "ThrottlingException") -> None:
        self._error = code

    def heal(self) -> None:
        self._error = None

    def get_inference_profile(self, params: dict[str, Any]) -> dict[str, Any]:
        identifier = str(params["inferenceProfileIdentifier"])
        self.calls.append(identifier)
        if self._error is not None:
            raise ServiceError(self._error, "the sandbox's Bedrock fails", STATUS.get(self._error, 400))
        for arn, profile in self.profiles.items():
            if identifier in (arn, profile["inferenceProfileId"]):
                return dict(profile)
        raise ServiceError("ResourceNotFoundException", f"inference profile {identifier} not found", 404)


@contextlib.contextmanager
def inference_profiles(fake: InferenceProfiles | None = None) -> Iterator[InferenceProfiles]:
    """Serve bedrock:GetInferenceProfile from `fake` (a new, empty set of profiles by default)."""
    fake = fake or InferenceProfiles()
    with unemulated({("bedrock", "GetInferenceProfile"): fake.get_inference_profile}):
        yield fake
