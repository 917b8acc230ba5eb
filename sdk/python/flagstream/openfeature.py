"""An OpenFeature hook that reports evaluations to Flagstream, for applications that evaluate
through OpenFeature (the OFREP provider, or any other): every evaluation is counted, as the
Flagstream client counts its own, and flushed to ``POST /api/sdk/events``.

    from openfeature import api
    from flagstream.openfeature import AnalyticsHook

    hook = AnalyticsHook("cli-…", base_url="https://flags.example.com")
    api.add_hooks([hook])
    ...
    hook.track("checkout_completed", EvaluationContext("user-42"), value=59.9)
    hook.close()   # the last flush

Needs ``openfeature-sdk`` (not a dependency of this package).
"""

from __future__ import annotations

import httpx
from openfeature.hook import Hook

from .analytics import EventRecorder


def _text(value) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))  # an enum (Reason) or a plain string


class AnalyticsHook(Hook):
    def __init__(self, sdk_key: str, base_url: str = "http://127.0.0.1:8000", *,
                 flush_interval: float = 10.0, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(timeout=timeout, headers={
            "Authorization": f"Bearer {sdk_key}", "User-Agent": "flagstream-python-hook"})
        self.recorder = EventRecorder(self._post, flush_interval=flush_interval)

    def _post(self, body: dict, payload_id: str) -> int:
        return self._http.post(f"{self.base_url}/api/sdk/events", json=body,
                               headers={"X-Payload-Id": payload_id}).status_code

    def finally_after(self, hook_context, details, hints) -> None:
        """After every evaluation, errors included (OpenFeature swallows a hook's errors)."""
        context = hook_context.evaluation_context
        reason = _text(getattr(details, "reason", None))
        variant = getattr(details, "variant", None)
        if variant is None and getattr(details, "error_code", None) is not None:
            reason = "ERROR"  # counted as variant "error"
        self.recorder.record(hook_context.flag_key, variant, reason,
                             getattr(context, "targeting_key", None) if context else None)

    def track(self, name: str, context=None, value: float | None = None,
              details: dict | None = None) -> None:
        """A custom event (OpenFeature's Tracking API shape), sent with the next flush."""
        self.recorder.track(name, getattr(context, "targeting_key", None) if context else None,
                            value, details)

    def flush(self) -> bool:
        return self.recorder.flush()

    def close(self) -> None:
        self.recorder.close()
        self._http.close()
