"""Named domain errors. Step Functions Catch/Retry blocks match these class names exactly."""


class BedrockWatchError(Exception):
    """Base of every error this library raises on purpose."""


class ConfigurationError(BedrockWatchError):
    """A setting (environment variable or stack parameter) is missing or malformed."""
