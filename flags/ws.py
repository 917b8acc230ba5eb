"""``WS /ws``: the flag-service WebSocket protocol, on the same hub as the SSE streams
(registered with the backbone in ``FlagsConfig.ready()``).

Client → server: ``subscribe`` (``flags``, ``tags``, ``subscribeAll``), ``unsubscribe`` (the same
fields), ``evaluate`` (``requestId``, ``flagKey``, ``context`` or ``entityID``/``entityContext``),
``ping``. Server → client: the change events of subscribed flags (the same payloads as SSE),
``subscribed``, ``evaluation_result``, ``pong`` and ``error``. Authenticated by the environment
key (headers, or a client key in ``?sdkKey=``); close code 4401 when it is missing, wrong or
revoked.
"""

from __future__ import annotations

import asyncio
import json
from channels.generic.websocket import AsyncWebsocketConsumer

from streaming.db import run_db
from streaming.frames import StreamEvent
from streaming.hub import CLOSE, IDLE, REVOKED, SHUTDOWN, Subscription, hub
from streaming.kinds import StreamRequest

from .channels import environment_channel
from .sdk_auth import SDKAuthError, authenticate_sdk_request, raw_key_from
from .sdk_requests import SDKInputError, evaluation_context, evaluator_for, result_body
from .streams import concerns, sdk_key_credential_kind

UNAUTHORIZED = 4401


class FlagSocketConsumer(AsyncWebsocketConsumer):
    # Changes come from the hub, not from the channel layer: an alias that names no layer
    # keeps channels from registering (and, with Redis, connecting) a channel per socket.
    channel_layer_alias = "flag-socket-uses-the-hub"

    async def connect(self):
        request = StreamRequest(self.scope)  # the same header and query reading as streams
        await self.accept()
        try:
            self.sdk_key = await run_db(authenticate_sdk_request,
                                        raw_key_from(request.header, request.query))
        except SDKAuthError as exc:
            await self.send_json({"type": "error", "error": exc.code, "detail": exc.detail})
            await self.close(code=UNAUTHORIZED)
            return
        self.flags: set[str] = set()
        self.tags: set[str] = set()
        self.all = False
        self.subscription = Subscription(
            environment_channel(self.sdk_key.environment_id), accepts=self.accepts,
            credential=sdk_key_credential_kind.credential(self.sdk_key.pk), kind="websocket")
        self.subscription.last_id = await hub.subscribe(self.subscription)
        self.pump_task = asyncio.ensure_future(self.pump())
        await self.send_json({"type": "connected", "environment": self.sdk_key.environment.key,
                              "project": self.sdk_key.environment.project.key})

    async def disconnect(self, code):
        subscription = getattr(self, "subscription", None)
        if subscription is not None:
            hub.unsubscribe(subscription)
            self.pump_task.cancel()

    def accepts(self, event: StreamEvent) -> bool:
        return self.all or concerns(event.payload, self.flags, self.tags)

    async def pump(self):
        while True:
            item = await self.subscription.next()
            if item.__class__ is StreamEvent:
                self.subscription.delivered += 1
                await self.send(text_data=item.data)
            elif item is REVOKED:
                await self.send_json({"type": "error", "error": "key_revoked",
                                      "detail": "the key of this connection was revoked"})
                await self.close(code=UNAUTHORIZED)
                return
            elif item is SHUTDOWN:
                await self.close(code=1001)  # going away: reconnect elsewhere
                return
            elif item is IDLE:  # nothing either way for STREAM_IDLE_TIMEOUT_SECONDS
                hub.count("websocket", "idle_closed")
                await self.close(code=1001)
                return
            elif item is CLOSE:
                return
            # heartbeats: daphne pings WebSocket clients itself

    async def send_json(self, content):
        await self.send(text_data=json.dumps(content))

    async def receive(self, text_data=None, bytes_data=None):
        if not hasattr(self, "subscription"):
            return
        self.subscription.touched += 1  # the client's own messages keep it from idling out
        try:
            message = json.loads(text_data or (bytes_data or b"").decode())
        except (ValueError, UnicodeDecodeError):
            await self.send_json({"type": "error", "error": "parse_error",
                                  "detail": "messages must be JSON objects"})
            return
        if not isinstance(message, dict):
            await self.send_json({"type": "error", "error": "parse_error",
                                  "detail": "messages must be JSON objects"})
            return
        handler = {"subscribe": self.on_subscribe, "unsubscribe": self.on_unsubscribe,
                   "evaluate": self.on_evaluate, "ping": self.on_ping}.get(message.get("type"))
        if handler is None:
            await self.send_json({"type": "error", "error": "unknown_type",
                                  "detail": f"unknown message type {message.get('type')!r}",
                                  "requestId": message.get("requestId")})
            return
        await handler(message)

    async def _lists(self, message) -> tuple[set[str], set[str]] | None:
        """The message's ``flags`` and ``tags`` as sets; None (after replying) if malformed."""
        out = []
        for name in ("flags", "tags"):
            value = message.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                await self.send_json({"type": "error", "error": "validation_error",
                                      "detail": "flags and tags must be lists of strings",
                                      "requestId": message.get("requestId")})
                return None
            out.append(set(value))
        return out[0], out[1]

    async def _subscription_reply(self, message):
        await self.send_json({"type": "subscribed", "flags": sorted(self.flags),
                              "tags": sorted(self.tags), "subscribeAll": self.all,
                              "requestId": message.get("requestId")})

    async def on_subscribe(self, message):
        lists = await self._lists(message)
        if lists is None:
            return
        flags, tags = lists
        self.flags |= flags
        self.tags |= tags
        if message.get("subscribeAll"):
            self.all = True
        await self._subscription_reply(message)

    async def on_unsubscribe(self, message):
        lists = await self._lists(message)
        if lists is None:
            return
        flags, tags = lists
        self.flags -= flags
        self.tags -= tags
        if message.get("subscribeAll") is False or message.get("all"):
            self.all = False
        await self._subscription_reply(message)

    async def on_evaluate(self, message):
        request_id = message.get("requestId")
        flag_key = message.get("flagKey")
        try:
            context = evaluation_context(message)
        except SDKInputError:
            context = None
        if not isinstance(flag_key, str) or context is None:
            await self.send_json({"type": "error", "error": "validation_error",
                                  "detail": "evaluate needs a flagKey and an object context",
                                  "requestId": request_id})
            return
        evaluator = await run_db(evaluator_for, self.sdk_key)
        await self.send_json({"type": "evaluation_result", "requestId": request_id,
                              "result": result_body(evaluator.evaluate(flag_key, context))})

    async def on_ping(self, message):
        await self.send_json({"type": "pong", "requestId": message.get("requestId"),
                              "timestamp": message.get("timestamp")})
