from django.urls import re_path

from . import task_views

TASKS = r"^(?P<org>[^/]+)/(?P<agent>[^/]+)/tasks"
TASK = TASKS + r"/(?P<task_id>[A-Za-z0-9_.:-]+)"

urlpatterns = [
    re_path(r"^(?P<org>[^/]+)/(?P<agent>[^/]+)/\.well-known/agent-card\.json$",
            task_views.agent_card, name="agent-card"),
    re_path(TASKS + r"/?$", task_views.task_create, name="task-create"),
    re_path(TASK + r"/?$", task_views.task_detail, name="task-detail"),
    re_path(TASK + r"/messages/?$", task_views.task_messages, name="task-messages"),
    re_path(TASK + r"/cancel/?$", task_views.task_cancel, name="task-cancel"),
    re_path(TASK + r"/stream-token/?$", task_views.task_stream_token, name="task-stream-token"),
]
