"""Staff's live pages: one conversation as it happens, and the active ones.

Each page is drawn from the database and then follows the organization's session stream from
the event id it was drawn at (``lastEventId``), so nothing that happened in between is missed;
the page skips what it already shows. EventSource reconnects by itself and resumes with
Last-Event-ID.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from streaming.selectors import current_id
from tenancy.selectors import organization_default_for_user, organization_get_for_user, \
    organizations_for_user

from .channels import sessions_channel
from .models import Conversation, ConversationStatus
from .serializers import conversation_summary, message_body

SHOWN_MESSAGES = 5000


def _stream_url(organization, **params) -> str:
    # Read before the page's data: what happens after it is replayed, what both show is skipped.
    last = current_id(sessions_channel(organization.pk))
    query = {**params, "organization": organization.slug,
             "lastEventId": f"{sessions_channel(organization.pk)}:{last}"}
    return f"/api/realtime/stream?{urlencode(query)}"


@staff_member_required
def live_session(request, conversation_id: int):
    conversation = get_object_or_404(
        Conversation.objects.filter(organization__in=organizations_for_user(request.user))
        .select_related("organization"), pk=conversation_id)
    stream_url = _stream_url(conversation.organization, conversationId=conversation.client_id)
    messages = conversation.messages.order_by("sequence_number", "created_at", "client_id")
    page = {"conversation": conversation_summary(conversation, participants=True),
            "messages": [message_body(m) for m in messages[:SHOWN_MESSAGES]],
            "streamUrl": stream_url}
    return render(request, "live_session.html", {"conversation": conversation, "page": page})


@staff_member_required
def live_sessions(request):
    slug = request.GET.get("organization")
    organization = (organization_get_for_user(request.user, slug) if slug
                    else organization_default_for_user(request.user))
    if organization is None:
        raise Http404("you belong to no organization")
    stream_url = _stream_url(organization)
    active = (Conversation.objects.filter(organization=organization)
              .filter(status__in=[ConversationStatus.ACTIVE, ConversationStatus.ERROR])
              .order_by("-started_at")[:200])
    page = {"conversations": [conversation_summary(c) for c in active],
            "streamUrl": stream_url, "sessionUrl": "/live/sessions/"}
    return render(request, "live_sessions.html", {"organization": organization, "page": page})


@staff_member_required
def live_task(request, task_id: int):
    """One task followed with a stream token (``templates/live_task.html``)."""
    from .models import Task

    task = get_object_or_404(
        Task.objects.filter(organization__in=organizations_for_user(request.user))
        .select_related("organization"), pk=task_id)
    base = f"/agent-to-agent/{task.organization.slug}/{task.agent}/tasks/{task.task_id}"
    return render(request, "live_task.html", {"task": task, "page": {
        "tokenUrl": f"{base}/stream-token", "streamUrl": f"{base}/stream"}})
