"""An application inference profile that InferenceProfileMap does not name is resolved by the
deployed meter through bedrock:GetInferenceProfile, under the role template.yaml gives it
(tests/conftest.py checks the recorded call against that role's grants): priced as the model it
wraps, and a profile Bedrock does not know is metered as unpriced, never lost. moto has no
GetInferenceProfile; sandbox.fake_profiles answers it behind a real botocore client."""

from __future__ import annotations

import json
import time

import pytest

from sandbox.events import load_event
from sandbox.fake_profiles import inference_profiles, model_arn
from sandbox.metering import deploy_metering
from sandbox.metrics import emf_documents, read_emf

pytestmark = pytest.mark.integration

NAMESPACE = "Drill/Bedrock"
NOVA_PRO = "amazon.nova-pro-v1:0"


def test_a_profile_the_map_does_not_name_is_resolved_by_the_meter_under_its_own_role(aws: None) -> None:
    with inference_profiles() as profiles:
        # Given an application profile over Nova Pro in us-east-1, and none in InferenceProfileMap
        known = profiles.add("mailer-prod", [model_arn("us-east-1", NOVA_PRO)])
        unknown = known.rsplit("/", 1)[0] + "/deleted0000"
        stack = deploy_metering({"MetricsNamespace": NAMESPACE, "InferenceProfileMap": "{}"})

        # When Bedrock logs a call through each
        at = int(time.time() * 1000) - 5_000
        lines = []
        for n, profile in enumerate((known, unknown)):
            record = load_event("metering/record-application-profile")
            record.update(modelId=profile, requestId=f"7e57c0de-0000-4000-8000-00000000000{n}")
            lines.append({"timestamp": at, "message": json.dumps(record)})
        stack.write_invocation_logs(lines)

        # Then the meter asked Bedrock once per profile (under its role: conftest checks it)
        assert profiles.calls == [known, unknown]
        output = stack.function_output()
        documents = [d for d in emf_documents("\n".join(output)) if "Requests" in d]
        by_model = {d["ModelId"]: d for d in documents}
        # the known profile is metered and priced as the model it wraps
        assert by_model[NOVA_PRO]["Requests"] == 1
        assert by_model[NOVA_PRO]["CostUSD"] > 0
        assert "UnpricedRequests" not in by_model[NOVA_PRO]
        # the unknown one is counted, as unpriced, under its ARN
        assert by_model[unknown]["Requests"] == 1
        assert by_model[unknown]["UnpricedRequests"] == 1
        store = read_emf(["\n".join(output)])
        assert store.get(NAMESPACE, "Requests").sum == 2
