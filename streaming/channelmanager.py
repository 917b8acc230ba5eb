"""Authorization of stream channels for django-eventstream's own views (Pushpin's follow-ups).

Streams are authorized by their kind when they open (see streaming.kinds); the follow-ups
carry the channels in ``es-meta``, signed by this server when the stream was first authorized,
so only channels of a registered kind are readable here.
"""

from __future__ import annotations

from django_eventstream.channelmanager import ChannelManagerBase

from .kinds import registry


class ChannelManager(ChannelManagerBase):
    def get_channels_for_request(self, request, view_kwargs):
        # Views authorize first and pass the channels they granted.
        return set(view_kwargs.get("channels", []))

    def can_read_channel(self, user, channel):
        return registry.owns_channel(channel)

    def is_channel_reliable(self, channel):
        return True  # every channel is stored, so every stream can replay


channel_manager = ChannelManager()
