"""How the flags app names its stream channels and the credential its streams are opened with."""

from streaming.kinds import Credential

ENVIRONMENT_PREFIX = "environment-"
SDK_KEY_CREDENTIAL = "sdkkey"  # also names the Pushpin channel that closes a key's streams


def environment_channel(environment_id: int) -> str:
    """Flag and segment changes of one environment."""
    return f"{ENVIRONMENT_PREFIX}{environment_id}"


def sdk_key_credential(key_id: int) -> Credential:
    return Credential(SDK_KEY_CREDENTIAL, key_id)
