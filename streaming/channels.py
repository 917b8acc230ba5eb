"""Channel naming, in one place. Every stream is one of these django-eventstream channels."""


def environment_channel(environment_id: int) -> str:
    """Flag and segment changes of one environment."""
    return f"environment-{environment_id}"
