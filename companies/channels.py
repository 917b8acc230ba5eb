"""The company channel: every live update of one organization."""

COMPANY_PREFIX = "company-"
MEMBER_CREDENTIAL = "companymember"


def company_channel(organization_id: int) -> str:
    return f"{COMPANY_PREFIX}{organization_id}"
