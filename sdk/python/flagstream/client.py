"""The Flagstream client: fetch once, stay current over SSE, evaluate locally.

    client = FlagstreamClient("srv-…", base_url="https://flags.example.com")
    client.wait_until_ready(5)
    if client.get_boolean("new-checkout", {"targetingKey": user.id}, default=False): ...
    client.close()

A background thread fetches ``GET /api/sdk/flags``, then holds ``GET /api/sdk/stream`` open,
applying each change (by version: a stale or repeated change is ignored) and resuming with
``Last-Event-ID`` after a disconnect. While the stream cannot be had it retries with jittered
exponential backoff and, meanwhile, polls the configuration with ``If-None-Match``. Evaluation is
local, with the same engine as the server, and never raises: getters return your default.

Every evaluation (not ``all_flags``) is counted and custom events (``track``) queued; both go to
``POST /api/sdk/events`` every ``flush_interval`` seconds and on ``close()``, a failed flush
retried with the same payload id (flagstream.analytics). ``analytics=False`` turns that off.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import threading
import time
from typing import Any, Callable

import httpx
from httpx_sse import connect_sse

from .analytics import EventRecorder
from .evaluation import ERROR, GENERAL, EvaluationResult, Evaluator, error_result

logger = logging.getLogger("flagstream")

Listener = Callable[[str, str | None, dict], None]

FLAG_EVENTS = {"flag_created", "flag_updated", "flag_enabled", "flag_disabled",
               "distribution_updated"}


class FlagstreamClient:
    """A thread-safe client for one environment (chosen by its SDK key)."""

    def __init__(self, sdk_key: str, base_url: str = "http://127.0.0.1:8000", *,
                 streaming: bool = True, poll_interval: float = 30.0,
                 initial_backoff: float = 0.5, max_backoff: float = 30.0,
                 timeout: float = 10.0, start: bool = True, analytics: bool = True,
                 flush_interval: float = 10.0):
        self.sdk_key = sdk_key
        self.base_url = base_url.rstrip("/")
        self.streaming = streaming
        self.poll_interval = poll_interval
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self._http = httpx.Client(
            headers={"Authorization": f"Bearer {sdk_key}", "User-Agent": "flagstream-python"},
            timeout=httpx.Timeout(timeout, read=None))
        self._lock = threading.RLock()
        self._config: dict = {"flags": {}, "segments": {}}
        self._evaluator = Evaluator(self._config)
        self._etag: str | None = None
        self._last_event_id: str | None = None
        self._listeners: list[Listener] = []
        self._ready = threading.Event()
        self._settled = threading.Event()  # ready, or given up (the key was refused)
        self._stop = threading.Event()
        self._failures = 0  # since the last success, for rate-limited warnings
        self._last_warning = float("-inf")
        self._fatal: str | None = None
        self._stream_response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._run, name="flagstream", daemon=True)
        self.stream_connected = False
        # Evaluations counted and custom events queued, sent every flush_interval seconds.
        self.analytics = EventRecorder(self._post_events, flush_interval=flush_interval) \
            if analytics else None
        if start:
            self._thread.start()

    # --- public API -----------------------------------------------------------------------

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Block until the first configuration arrived (True), or ``timeout`` passed or the
        server refused the key (False at once; ``error`` says why)."""
        self._settled.wait(timeout)
        return self._ready.is_set()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def error(self) -> str | None:
        """Why the client gave up (e.g. the key was refused), or None."""
        return self._fatal

    def evaluate(self, flag_key: str, context: dict | None = None,
                 expected_kind: str | None = None) -> EvaluationResult:
        """The full evaluation result (value, variant, reason, error code)."""
        context = context or {}
        try:
            result = self._evaluator.evaluate(flag_key, context, expected_kind)
        except Exception as exc:  # noqa: BLE001 - evaluation must never take the app down
            result = error_result(flag_key, GENERAL, str(exc))
        if self.analytics is not None:
            key = context.get("targetingKey") if isinstance(context, dict) else None
            try:  # checked and cleaned once per flush (flagstream.analytics)
                self.analytics.record(flag_key, result.variant, result.reason, key)
            except Exception:  # noqa: BLE001 - counting must never break an evaluation
                logger.debug("flagstream: evaluation not counted", exc_info=True)
        return result

    def track(self, name: str, context: dict | None = None, value: float | None = None,
              details: dict | None = None) -> None:
        """Record a custom event (OpenFeature's Tracking API: ``checkout_completed``, the
        context, a numeric value, details); sent with the next flush."""
        if self.analytics is not None:
            key = context.get("targetingKey") if isinstance(context, dict) else None
            self.analytics.track(name, key, value, details)

    def flush(self) -> bool:
        """Send the analytics recorded so far now; True when nothing is left waiting."""
        return self.analytics.flush() if self.analytics is not None else True

    def _post_events(self, body: dict, payload_id: str) -> int:
        response = self._http.post(f"{self.base_url}/api/sdk/events", json=body,
                                   headers={"X-Payload-Id": payload_id},
                                   timeout=httpx.Timeout(10.0))
        return response.status_code

    def _value(self, flag_key, context, default, kind):
        result = self.evaluate(flag_key, context, kind)
        if result.reason == ERROR or result.value is None:
            return default
        return result.value

    def get_boolean(self, flag_key: str, context: dict | None = None, default: bool = False) -> bool:
        """The flag's boolean value, or ``default`` on any error. Never raises."""
        return self._value(flag_key, context, default, "boolean")

    def get_string(self, flag_key: str, context: dict | None = None, default: str = "") -> str:
        return self._value(flag_key, context, default, "string")

    def get_number(self, flag_key: str, context: dict | None = None, default: float = 0) -> float:
        return self._value(flag_key, context, default, "number")

    def get_json(self, flag_key: str, context: dict | None = None, default: Any = None) -> Any:
        """A JSON flag's value (a copy: mutate it freely), or ``default``."""
        value = self._value(flag_key, context, default, "json")
        return copy.deepcopy(value)

    def all_flags(self, context: dict | None = None) -> dict[str, Any]:
        """Every flag's value for ``context`` (errors omitted)."""
        return {key: result.value for key, result in
                self._evaluator.evaluate_all(context or {}).items() if result.reason != ERROR}

    def flag_keys(self) -> list[str]:
        return sorted(self._config.get("flags", {}))

    def on_change(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event_type, flag_key, data)`` on every applied change.

        Event types: the server's (``flag_updated``, ``flag_deleted``, …) and ``put`` when a whole
        configuration was loaded. Returns a function that removes the listener.
        """
        with self._lock:
            self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def close(self) -> None:
        """Stop the background thread and close connections."""
        self._stop.set()
        # The thread may be connecting right now, its response not yet published: keep
        # closing whatever response it holds until it has seen the stop and ended.
        deadline = time.monotonic() + 5
        while True:
            response = self._stream_response
            if response is not None:
                try:
                    response.close()
                except Exception:  # noqa: BLE001
                    pass
            if (not self._thread.is_alive() or threading.current_thread() is self._thread
                    or time.monotonic() >= deadline):
                break
            self._thread.join(0.1)
        if self.analytics is not None:
            self.analytics.close()  # the last flush, before the connections go
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- applying configuration -----------------------------------------------------------

    def _install(self, config: dict) -> None:
        evaluator = Evaluator(config)
        with self._lock:
            self._config = config
            self._evaluator = evaluator  # a reference swap: readers never see a half state

    def _notify(self, event_type: str, flag_key: str | None, data: dict) -> None:
        for listener in list(self._listeners):
            try:
                listener(event_type, flag_key, data)
            except Exception:  # noqa: BLE001
                logger.exception("flagstream change listener failed")

    def _apply_put(self, document: dict) -> None:
        self._install({"flags": dict(document.get("flags", {})),
                       "segments": dict(document.get("segments", {}))})
        self._ready.set()
        self._settled.set()
        self._notify("put", None, document)

    def _apply_event(self, event_type: str, data: dict) -> None:
        with self._lock:
            flags = dict(self._config.get("flags", {}))
            segments = dict(self._config.get("segments", {}))
            flag_key = data.get("flagKey")
            if event_type in FLAG_EVENTS and data.get("flag"):
                known = flags.get(flag_key)
                if known is not None and (known.get("version") or 0) >= (data.get("version") or 0):
                    return  # stale or already applied
                flags[flag_key] = data["flag"]
            elif event_type == "flag_deleted":
                known = flags.get(flag_key)
                if known is None or (known.get("version") or 0) >= (data.get("version") or 0):
                    return
                del flags[flag_key]
            elif event_type == "segment_updated":
                if data.get("segment") is None:
                    segments.pop(data.get("segmentKey"), None)
                else:
                    segments[data["segmentKey"]] = data["segment"]
            else:
                return
            self._install({"flags": flags, "segments": segments})
        self._notify(event_type, flag_key, data)

    # --- background work ------------------------------------------------------------------

    def _poll(self) -> None:
        """Fetch the configuration unless it is unchanged (ETag)."""
        headers = {"If-None-Match": self._etag} if self._etag else {}
        response = self._http.get(f"{self.base_url}/api/sdk/flags", headers=headers)
        if response.status_code == 304:
            return
        if response.status_code in (401, 403):
            self._fatal = f"the server refused the SDK key ({response.status_code})"
            raise PermissionError(self._fatal)
        response.raise_for_status()
        self._etag = response.headers.get("ETag")
        document = response.json()
        before = self._config
        self._apply_put(document)
        self._recovered()
        if before.get("flags") != document.get("flags"):
            logger.debug("flagstream configuration updated by polling")

    def _stream(self) -> None:
        """Hold the SSE stream until it ends; raises on failure."""
        headers = {"Accept": "text/event-stream"}
        if self._last_event_id:
            headers["Last-Event-ID"] = self._last_event_id
        with connect_sse(self._http, "GET", f"{self.base_url}/api/sdk/stream",
                         headers=headers) as source:
            response = source.response
            if response.status_code in (401, 403):
                self._fatal = f"the server refused the SDK key ({response.status_code})"
                raise PermissionError(self._fatal)
            response.raise_for_status()
            self._stream_response = response
            if self._stop.is_set():
                return  # closed while connecting
            self.stream_connected = True
            self._backoff_attempt = 0
            self._recovered()
            for sse in source.iter_sse():
                if self._stop.is_set():
                    return
                if not sse.data and sse.event == "message":
                    continue  # an empty block (heartbeat), not an event
                if sse.event == "stream-error":
                    detail = json.loads(sse.data or "{}")
                    if detail.get("condition") == "unauthorized":
                        self._fatal = "the SDK key was revoked"
                        raise PermissionError(self._fatal)
                    raise ConnectionError(f"stream error: {detail}")
                if sse.id:
                    self._last_event_id = sse.id
                if sse.event == "stream-open":
                    continue
                if sse.event == "put":
                    self._apply_put(json.loads(sse.data))
                elif sse.event == "stream-reset":
                    continue  # a put follows
                else:
                    self._apply_event(sse.event, json.loads(sse.data))

    # At most one warning per this many seconds while the server cannot be reached.
    WARNING_INTERVAL = 30.0

    def _failed(self, what: str) -> None:
        """Log a failure: the first at once, then one warning per WARNING_INTERVAL saying how
        many there were (a retry loop must not flood the application's log)."""
        self._failures += 1
        now = time.monotonic()
        if now - self._last_warning >= self.WARNING_INTERVAL:
            more = f" ({self._failures} failures so far)" if self._failures > 1 else ""
            logger.warning("flagstream %s; retrying with backoff%s", what, more)
            self._last_warning = now
        else:
            logger.debug("flagstream %s; retrying", what)

    def _recovered(self) -> None:
        if self._failures:
            logger.info("flagstream: connected again after %d failures", self._failures)
        self._failures = 0
        self._last_warning = float("-inf")

    def _give_up(self) -> None:
        if self._ready.is_set():
            logger.error("flagstream: %s; keeping the last configuration", self._fatal)
        else:
            logger.error("flagstream: %s; no configuration was loaded, so every flag "
                         "evaluates to its default", self._fatal)
        self._settled.set()

    def _backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff: uniform in [0, min(max, base·2^attempt)]."""
        return random.uniform(0, min(self.max_backoff, self.initial_backoff * (2 ** attempt)))

    def _run(self) -> None:
        self._backoff_attempt = 0
        last_poll = 0.0
        while not self._stop.is_set():
            try:
                if not self.streaming or not self._ready.is_set():
                    self._poll()
                    last_poll = time.monotonic()
                if self.streaming:
                    self._stream()
                    # The server closed the stream cleanly: reconnect soon.
                else:
                    self._stop.wait(self.poll_interval)
                    continue
            except PermissionError:
                self._give_up()
                return
            except Exception as exc:  # noqa: BLE001 - any failure: back off, poll meanwhile
                if self._stop.is_set():
                    return
                self._failed(f"stream failed ({exc})")
            finally:
                self.stream_connected = False
                self._stream_response = None
            delay = self._backoff(self._backoff_attempt)
            self._backoff_attempt += 1
            # While the stream is down, keep the configuration fresh by polling (with ETag).
            if time.monotonic() - last_poll >= min(self.poll_interval, self.max_backoff):
                try:
                    self._poll()
                    last_poll = time.monotonic()
                except PermissionError:
                    self._give_up()
                    return
                except Exception as exc:  # noqa: BLE001
                    self._failed(f"poll failed ({exc})")
            self._stop.wait(delay)
