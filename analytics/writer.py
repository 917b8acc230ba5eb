"""Group commit for SDK analytics (streaming.group_commit): the batches that requests hand in at
the same moment are stored by one writer thread per server process in one transaction
(``services.events_ingest_many``), up to ANALYTICS_GROUP_ITEMS events; each request is answered
after that commit. One event a request then costs a share of a commit instead of one."""

from __future__ import annotations

from django.conf import settings

from streaming.group_commit import GroupCommitter

from .services import events_ingest_many


class AnalyticsWriter(GroupCommitter):
    name = "analytics-writer"

    def limit(self) -> int:
        return settings.ANALYTICS_GROUP_ITEMS

    def weight(self, item) -> int:
        return max(1, item[2].items)  # (environment, payload id, batch)

    def write(self, items: list) -> list:
        return events_ingest_many(items)


writer = AnalyticsWriter()
