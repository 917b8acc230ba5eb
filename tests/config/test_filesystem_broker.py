"""The embedded broker never shows a worker a message file that is not complete."""

import json
import os

import pytest
from kombu import Connection

from config.filesystem_broker import SCHEME, register


def test_put__message_appears_only_when_whole(tmp_path, monkeypatch):
    register()
    folder = tmp_path / "queue"
    folder.mkdir()
    seen_before_rename = []
    real_replace = os.replace

    def spying_replace(src, dst):
        # Just before the message becomes visible: no .msg file yet, and the hidden
        # temporary file already holds the whole payload.
        seen_before_rename.append(([n for n in os.listdir(folder) if n.endswith(".msg")],
                                   json.loads(open(src).read())))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spying_replace)
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    with Connection(f"{SCHEME}://", transport_options=options) as connection:
        channel = connection.channel()
        channel._put("celery", {"body": "x" * 100_000, "n": 1})
        [(visible, payload)] = seen_before_rename
        assert visible == [] and payload["n"] == 1 and len(payload["body"]) == 100_000
        message = channel._get("celery")
    assert message == {"body": "x" * 100_000, "n": 1}
    assert [n for n in os.listdir(folder)] == []  # nothing partial left behind


def test_settings__every_broker_folder_is_under_the_var_dir():
    """Two installs (or two test stacks) on one machine share no queue or exchange table;
    kombu would otherwise keep its exchange tables in ./control of whatever directory a
    process was started from."""
    from pathlib import Path

    from django.conf import settings

    if settings.CELERY_BROKER_URL != f"{SCHEME}://":
        pytest.skip("the embedded broker is not in use (REDIS_URL or CELERY_BROKER_URL is set)")
    var_dir = Path(settings.VAR_DIR).resolve()
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    for name in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        assert var_dir in Path(options[name]).resolve().parents, name


def test_connection__no_hostname_warning(tmp_path, caplog):
    """A folder needs no host: sending a task (manage.py schedule_change does) prints nothing."""
    register()
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    with caplog.at_level("WARNING", logger="kombu.connection"):
        with Connection(f"{SCHEME}://", transport_options=options) as connection:
            connection.info()
    assert "No hostname" not in caplog.text
