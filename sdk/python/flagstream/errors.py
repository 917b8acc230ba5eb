"""Errors raised while reading a flag configuration."""

from __future__ import annotations


class ConfigError(ValueError):
    """A flag or segment configuration that cannot be evaluated.

    ``field`` is a dotted path into the configuration (``rules.0.constraints.1.values``) so
    that a server can answer 400 naming the offending field.
    """

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message

    def prefixed(self, prefix: str) -> "ConfigError":
        """The same error with ``prefix`` put in front of its field path."""
        return ConfigError(f"{prefix}.{self.field}" if self.field else prefix, self.message)
