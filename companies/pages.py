"""``/live/company/``: a company's live dashboard for its members (templates/live_company.html).

The page is drawn from the company's stored updates and then follows ``/stream/updates`` from
the event id it was drawn at, with the member's session cookie; EventSource reconnects by
itself and resumes with Last-Event-ID.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from tenancy.models import Organization

from .selectors import company_recent_updates


def _refused(request, status: int, title: str, detail: str, companies=()):
    return render(request, "live_company_refused.html",
                  {"title": title, "detail": detail, "companies": companies}, status=status)


@login_required
def live_company(request):
    mine = list(Organization.objects.filter(memberships__user=request.user).order_by("name"))
    slug = request.GET.get("companyId", "")
    if not slug:
        if len(mine) != 1:
            return _refused(request, 200 if mine else 403, "Choose a company",
                            "You are a member of several companies." if mine else
                            "You are a member of no company: ask an organization admin to add "
                            "you.", companies=mine)
        organization = mine[0]
    else:
        organization = get_object_or_404(Organization, slug=slug)
        if organization not in mine:
            return _refused(request, 403, "Not your company",
                            f"You are not a member of {slug!r}.", companies=mine)
    if not organization.streaming_enabled:
        return _refused(request, 403, "Live updates are off",
                        f"Live updates are turned off for {organization.name} (organization "
                        "settings in the admin).", companies=mine)
    recent = company_recent_updates(organization)
    stream_url = "/stream/updates?" + urlencode({"companyId": organization.slug,
                                                 "lastEventId": recent["lastEventId"]})
    page = {"company": organization.slug, "updates": recent["updates"], "streamUrl": stream_url}
    return render(request, "live_company.html",
                  {"organization": organization, "companies": mine, "page": page})
