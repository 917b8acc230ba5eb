"""``/live/analytics/``: staff's page of a project's flag analytics (templates/live_analytics.html).

The page reads the dashboard API with the staff session and draws it; it follows the
organization's company stream and reads again when a rollup lands (``metric_updated`` from
``analytics``).
"""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404
from django.shortcuts import render

from flags import selectors as flag_selectors
from flags.models import Environment


@staff_member_required
def live_analytics(request):
    projects = list(flag_selectors.projects_for_user(request.user)
                    .select_related("organization").order_by("organization__slug", "key"))
    if not projects:
        raise Http404("no project you can see")
    key = request.GET.get("project")
    project = next((p for p in projects if p.key == key), None) if key else projects[0]
    if project is None:
        raise Http404(f"no project {key!r}")
    environments = list(Environment.objects.filter(project=project).order_by("id"))
    wanted = request.GET.get("environment")
    environment = next((e for e in environments if e.key == wanted), None) if wanted \
        else (environments[0] if environments else None)
    if environment is None:
        raise Http404("no such environment" if wanted else "the project has no environment")
    api = f"/api/projects/{project.key}/analytics"
    query = f"organization={project.organization.slug}&environment={environment.key}"
    page = {"project": project.key, "environment": environment.key, "query": query,
            "flagsUrl": f"{api}/flags?{query}", "staleUrl": f"{api}/stale?days=30&{query}",
            "unknownUrl": f"{api}/unknown-flags?{query}",
            "seriesUrl": f"{api}/flags/{{flag}}/evaluations?{query}",
            "streamUrl": f"/stream/updates?companyId={project.organization.slug}",
            "flag": request.GET.get("flag", "")}
    return render(request, "live_analytics.html", {
        "project": project, "environment": environment, "projects": projects,
        "environments": environments, "page": page})
