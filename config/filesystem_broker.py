"""kombu's filesystem transport, with messages that appear in the queue folder whole.

The stock ``_put`` creates the message file and then locks and writes it; a worker in another
process can move and read it in between, get an empty file and die with "Unrecoverable error:
JSONDecodeError" (seen when a `manage.py` command queued a task while `make run` ran). Here a
message is written to a hidden temporary name, which the reader ignores, and renamed into
place, which is atomic on POSIX filesystems.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

SCHEME = "fsatomic"


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".partial-{uuid.uuid4()}")
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel

    @property
    def default_connection_params(self):
        # A folder, not a host: without this kombu warns "No hostname was supplied" in every
        # process that sends a task (manage.py schedule_change printed it to the operator).
        return {"port": self.default_port}


def register() -> None:
    TRANSPORT_ALIASES[SCHEME] = "config.filesystem_broker:Transport"
