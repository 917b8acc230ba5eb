"""Domain errors that services raise; the API maps them to HTTP statuses."""


class ConflictError(Exception):
    """The change clashes with the current state of other objects (HTTP 409)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class VersionMismatch(Exception):
    """``If-Match`` named a version the state has moved on from (HTTP 412)."""

    def __init__(self, expected: int, current: int):
        super().__init__(f"version is {current}, not {expected}")
        self.expected = expected
        self.current = current
