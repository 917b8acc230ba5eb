from django.apps import AppConfig


class NotesConfig(AppConfig):
    """A throw-away app of the tests: one stream kind of its own, registered the way every app
    registers its kinds, with no change inside streaming/."""

    name = "tests.streaming.notes"
    label = "test_notes"

    def ready(self):
        from streaming import kinds

        from .streams import note_key_credential_kind, notes_stream

        kinds.register_credential(note_key_credential_kind)
        kinds.register(notes_stream)
