"""The organization's live-update channel: what its members' dashboards follow
(``/stream/updates?companyId=``, served by the companies app). Named here, with the
organization, so that any app can publish an update for an organization without importing
another domain app."""

UPDATES_PREFIX = "company-"


def organization_updates_channel(organization_id: int) -> str:
    return f"{UPDATES_PREFIX}{organization_id}"
