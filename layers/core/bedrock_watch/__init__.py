"""bedrock-watch domain library: records, pricing, EMF, budgets, incidents, channels, remediation,
routing and configuration. Modules import boto3 lazily so cold starts stay short."""
