"""Keep credentials carried in URLs out of every log line."""

from __future__ import annotations

import logging
import re

from daphne.access import AccessLogGenerator

# Query parameters that carry secrets: SDK keys, stream tokens, JWTs, Pushpin's es-meta.
SECRET_PARAMS = ("sdkKey", "token", "access_token", "key", "apiKey", "es-meta")
_SECRET = re.compile(r"((?:^|[?&;])(?:%s)=)[^&;#\s\"]*" % "|".join(map(re.escape, SECRET_PARAMS)))


def redact_url(url: str) -> str:
    """``/x?sdkKey=cli-abc&flags=a`` → ``/x?sdkKey=[redacted]&flags=a``."""
    return _SECRET.sub(r"\1[redacted]", url)


class RedactingAccessLog(AccessLogGenerator):
    """daphne's access log, with secrets in query strings replaced."""

    def __call__(self, protocol, action, details):
        if "path" in details:
            details = {**details, "path": redact_url(str(details["path"]))}
        return super().__call__(protocol, action, details)


class RedactSecretsFilter(logging.Filter):
    """For Django's and the libraries' own log records that quote a URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "=" in record.msg:
            record.msg = redact_url(record.msg)
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(redact_url(a) if isinstance(a, str) else a for a in record.args)
        return True
