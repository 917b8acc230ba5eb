"""How the sessions app names its stream channels and the credentials its streams open with."""

from streaming.kinds import Credential

SESSIONS_PREFIX = "sessions-"
API_KEY_CREDENTIAL = "apikey"  # an organization API key (tenancy.APIKey)
STAFF_CREDENTIAL = "staff"  # a staff user's session


def sessions_channel(organization_id: int) -> str:
    """Every session event of one organization."""
    return f"{SESSIONS_PREFIX}{organization_id}"


def api_key_credential(key_id: int) -> Credential:
    return Credential(API_KEY_CREDENTIAL, key_id)


def staff_credential(user_id: int) -> Credential:
    return Credential(STAFF_CREDENTIAL, user_id)
