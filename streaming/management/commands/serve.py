import argparse
import io
import json
import sys

from daphne import http_protocol
from daphne.endpoints import build_endpoint_description_strings
from daphne.server import Server
from django.core.management.base import BaseCommand

from streaming.logging import RedactingAccessLog


class WebRequest(http_protocol.WebRequest):
    """daphne's request, without Twisted parsing every POST's Content-Type for form fields.

    daphne hands the ASGI application the raw body and never reads Twisted's parsed form
    arguments, but Twisted parses each POST's Content-Type header with the ``email`` package
    first: a fifth of the event loop's time for single SDK events (py-spy, docs/BENCHMARKS.md).
    ``parsePOSTFormSubmission`` is Twisted's own switch for that; daphne does not expose it."""

    max_body: int | None = None  # MAX_REQUEST_BYTES, set by the command
    _too_large = False
    _received = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, parsePOSTFormSubmission=False, **kwargs)

    # No body past MAX_REQUEST_BYTES is taken in, whatever the path: Twisted would buffer it
    # whole (to a temporary file) before the application sees the request, and an endpoint
    # that reads no body would never refuse it. Past the limit — declared, or counted as a
    # chunked body arrives — the client gets 413 at once; what it still sends is read and
    # dropped (closing at once would make its kernel reset the connection before it reads the
    # answer), and the connection closes when the body ends, or after as much again.

    def gotLength(self, length):
        if length is not None and self.max_body and length > self.max_body:
            self._refuse_too_large()
            return
        super().gotLength(length)

    def handleContentChunk(self, data):
        self._received += len(data)
        if not self._too_large and self.max_body and self._received > self.max_body:
            self._refuse_too_large()
        if not self._too_large:
            super().handleContentChunk(data)
        elif self._received > 2 * self.max_body:
            self.channel.transport.loseConnection()

    def requestReceived(self, command, path, version):
        if self._too_large:
            self.channel.transport.loseConnection()  # the body ended: dropped
        else:
            super().requestReceived(command, path, version)

    def _refuse_too_large(self):
        self._too_large = True
        self.content = io.BytesIO()  # nothing more is kept
        body = json.dumps({"error": "payload_too_large",
                           "detail": f"the request body is larger than {self.max_body:,} bytes",
                           "fields": {"body": [f"at most {self.max_body:,} bytes"]}}).encode()
        self.channel.transport.write(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))


class Command(BaseCommand):
    help = ("Serve HTTP, SSE and WebSocket with daphne (ASGI). Like the daphne command, but the "
            "access log never shows secrets carried in query strings.")

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-access-log", action="store_true")
        parser.add_argument("--proxy-headers", action="store_true",
                            help="trust X-Forwarded-For (behind a proxy such as Pushpin)")
        parser.add_argument("--processes", type=int, default=0,
                            help="server processes sharing the port, each with its own hub "
                                 "(default 0: one per core; streaming/workers.py)")
        parser.add_argument("--fd", type=int, help=argparse.SUPPRESS)  # a worker's socket

    def handle(self, *args, host, port, no_access_log, proxy_headers, processes, fd,
               **options):
        from streaming.workers import process_count

        count, note = process_count(processes, host)
        if note and fd is None:
            self.stdout.write(note)
        if fd is None and count != 1:
            from streaming.workers import supervise

            flags = (["--no-access-log"] if no_access_log else []) + \
                (["--proxy-headers"] if proxy_headers else [])
            sys.exit(supervise(host, port, count, flags, out=self.stdout))
        import asyncio
        import signal

        from twisted.internet import reactor

        from django.conf import settings
        from django.utils.module_loading import import_string

        application = import_string(settings.ASGI_APPLICATION)
        from streaming.hub import hub

        stopping = []

        async def stop_gracefully():
            # End every open stream properly (clients resume elsewhere with Last-Event-ID),
            # then stop; daphne's own handlers would cancel them mid-response. A second signal
            # (Ctrl-C, then a supervisor's TERM) must not stop the reactor twice.
            if stopping:
                return
            stopping.append(True)
            await hub.shut_down()
            if reactor.running:
                reactor.stop()

        from daphne.server import twisted_loop as loop  # the loop daphne's reactor runs on

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda: asyncio.ensure_future(stop_gracefully()))
        from django.conf import settings

        WebRequest.max_body = settings.MAX_REQUEST_BYTES
        http_protocol.WebRequest = WebRequest  # what daphne's HTTP factory makes requests of
        from daphne import server as daphne_server

        from streaming.http_lane import LaneFactory

        LaneFactory.paths = tuple(settings.HTTP_LANE_PATHS)
        daphne_server.HTTPFactory = LaneFactory  # what daphne's server listens with
        if fd is None:
            self.stdout.write(f"Serving on http://{host}:{port}/")
            from streaming.workers import BACKLOG

            # Twisted's own backlog is 50: the 51st of a burst of connections waited a second.
            endpoints = [f"{endpoint}:backlog={BACKLOG}" for endpoint in
                         build_endpoint_description_strings(host=host, port=port)]
        else:
            from streaming.workers import stop_with_supervisor, worker_endpoint

            endpoints = [worker_endpoint(fd)]
            stop_with_supervisor()  # after the handlers above: it may signal at once
        Server(
            application=application,
            endpoints=endpoints,
            action_logger=None if no_access_log else RedactingAccessLog(sys.stdout),
            proxy_forwarded_address_header="X-Forwarded-For" if proxy_headers else None,
            proxy_forwarded_port_header="X-Forwarded-Port" if proxy_headers else None,
            application_close_timeout=5,
            signal_handlers=False,
        ).run()
