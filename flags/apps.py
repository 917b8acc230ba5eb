from django.apps import AppConfig


class FlagsConfig(AppConfig):
    name = "flags"
    verbose_name = "Feature flags"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from streaming import kinds

        from .streams import STREAM_KINDS, sdk_key_credential_kind
        from .ws import FlagSocketConsumer

        kinds.register_credential(sdk_key_credential_kind)
        for kind in STREAM_KINDS:
            kinds.register(kind)
        kinds.register_websocket("ws", FlagSocketConsumer.as_asgi())
