"""The company channel: every live update of one organization (named by tenancy.channels)."""

from tenancy.channels import UPDATES_PREFIX as COMPANY_PREFIX
from tenancy.channels import organization_updates_channel as company_channel

MEMBER_CREDENTIAL = "companymember"

__all__ = ["COMPANY_PREFIX", "MEMBER_CREDENTIAL", "company_channel"]
