"""An environment's evaluation configuration, its strong ETag, and a compiled evaluator.

Building them reads every flag and segment of the environment, so they are cached per process
and keyed by the environment channel's current event id: every change publishes an event (and
so moves the id) before the request that made it returns. A short TTL covers the one case where
that cannot hold (a change whose event could not be stored).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field

from flagstream import Evaluator

from streaming.selectors import current_id

from .channels import environment_channel
from .configuration import environment_document
from .models import Environment

CACHE_TTL_SECONDS = 30
_cache: dict[int, "EnvironmentConfig"] = {}
_lock = threading.Lock()


@dataclass
class EnvironmentConfig:
    environment_id: int
    event_id: int
    document: dict
    etag: str
    built_at: float = field(default_factory=time.monotonic)
    _evaluator: Evaluator | None = None
    _put_frame: bytes | None = None

    def put_frame(self, channel: str) -> bytes:
        """The SSE ``put`` event of this configuration (encoded once, shared by every stream)."""
        if self._put_frame is None:
            from django_eventstream.utils import make_id, sse_encode_event

            data = json.dumps(self.document, separators=(",", ":"))
            self._put_frame = sse_encode_event("put", data,
                                               event_id=make_id({channel: self.event_id})).encode()
        return self._put_frame

    @property
    def evaluator(self) -> Evaluator:
        if self._evaluator is None:
            self._evaluator = Evaluator(self.document)
        return self._evaluator


def strong_etag(document) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return '"' + hashlib.sha256(canonical.encode()).hexdigest()[:32] + '"'


def environment_config_cached(environment_id: int, event_id: int) -> EnvironmentConfig | None:
    """The cached configuration if it is the one current at ``event_id`` (no database)."""
    cached = _cache.get(environment_id)
    if (cached is not None and cached.event_id == event_id
            and time.monotonic() - cached.built_at < CACHE_TTL_SECONDS):
        return cached
    return None


def environment_config_get(environment: Environment) -> EnvironmentConfig:
    """The current configuration of ``environment`` (from cache when nothing changed)."""
    event_id = current_id(environment_channel(environment.id))
    cached = _cache.get(environment.id)
    if (cached is not None and cached.event_id == event_id
            and time.monotonic() - cached.built_at < CACHE_TTL_SECONDS):
        return cached
    document = {"project": environment.project.key, "environment": environment.key,
                "version": event_id, **environment_document(environment)}
    config = EnvironmentConfig(environment.id, event_id, document,
                               strong_etag({k: v for k, v in document.items() if k != "version"}))
    with _lock:
        _cache[environment.id] = config
    return config


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: ``*`` or any listed tag (weak comparison) equal to ``etag``."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    tags = [t.strip() for t in if_none_match.split(",")]
    bare = etag[2:] if etag.startswith("W/") else etag
    return any((t[2:] if t.startswith("W/") else t) == bare for t in tags)
