"""Authorization of every stream channel, in one place (django-eventstream's channel manager).

Environment channels are read with an environment key: the key decides the channel, so a key
can never name another environment's. Pushpin's follow-up requests (``link=next``, ``recover``)
carry the channels in ``es-meta``, signed by this server when the stream was first authorized.
"""

from __future__ import annotations

from django_eventstream.channelmanager import ChannelManagerBase

from flags.sdk_auth import authenticate_sdk_stream, raw_key_from

from .channels import environment_channel

ENVIRONMENT_PREFIX = "environment-"


class ChannelManager(ChannelManagerBase):
    def sdk_key_channel(self, header, query, *, cached_only: bool = False):
        """(SDK key, its environment channel) for a request opening a stream.

        Raises flags.sdk_auth.SDKAuthError, or NotCached when ``cached_only`` and the key was
        not looked up in the last second.
        """
        sdk_key = authenticate_sdk_stream(raw_key_from(header, query), cached_only=cached_only)
        return sdk_key, environment_channel(sdk_key.environment_id)

    def get_channels_for_request(self, request, view_kwargs):
        # Views authorize first (see sdk_key_channel) and pass the channels they granted.
        return set(view_kwargs.get("channels", []))

    def can_read_channel(self, user, channel):
        return channel.startswith(ENVIRONMENT_PREFIX)

    def is_channel_reliable(self, channel):
        return True  # every channel is stored, so every stream can replay


channel_manager = ChannelManager()
