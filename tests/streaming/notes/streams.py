"""Notes on a board: ``GET /test/notes/stream?board=<slug>&key=<n>``.

A key is any number; it is revoked by writing it to ``<var>/revoked-note-keys`` (so every
process, server or command, sees the revocation). A new or reset stream opens with ``hello``.
"""

from __future__ import annotations

from django.conf import settings

from streaming.broadcast import close_credential_streams
from streaming.frames import sse_frame
from streaming.kinds import CredentialKind, StreamDenied, StreamKind, StreamPlan
from streaming.selectors import current_id


def revoked_file():
    return settings.VAR_DIR / "revoked-note-keys"


def note_key_revoke(key: int) -> None:
    """Revoke a note key: streams this server holds see it on their next re-check; streams
    Pushpin holds are closed on the key's channel, as every app does for its credentials."""
    with revoked_file().open("a") as out:
        out.write(f"{key}\n")
    close_credential_streams(note_key_credential_kind.credential(key))


def revoked_keys() -> set[int]:
    path = revoked_file()
    return {int(line) for line in path.read_text().split()} if path.exists() else set()


class NoteKeyCredential(CredentialKind):
    name = "notekey"
    revoked_text = "the note key was revoked"

    def revoked(self, ids) -> set[int]:
        return set(ids) & revoked_keys()


note_key_credential_kind = NoteKeyCredential()


class NotesStream(StreamKind):
    name = "notes"
    path = "/test/notes/stream"
    channel_prefix = "note-"
    pushpin = True

    def authorize(self, request, *, cached_only=False):
        key = request.query.get("key", "")
        if not key.isdigit():
            raise StreamDenied(401, "invalid_key", "a numeric ?key= is required")
        if int(key) in revoked_keys():
            raise StreamDenied(401, "invalid_key", "the note key was revoked")
        board = request.query.get("board") or "main"
        return StreamPlan(self.channel(board),
                          credential=note_key_credential_kind.credential(int(key)),
                          context=board)

    def opening(self, plan):
        current = current_id(plan.channel)
        return [sse_frame("hello", {"board": plan.context, "at": current})], current


notes_stream = NotesStream()
