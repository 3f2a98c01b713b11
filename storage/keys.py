"""Every Redis key and topic name in one place, all under one prefix (a test run, a deployment)."""

from __future__ import annotations

from dataclasses import dataclass

from storage.types import ChannelName


@dataclass(frozen=True, slots=True)
class KeySpace:
    prefix: str = "cadence:"

    # The `{...}` hash tag keeps a channel's stream and meta in one cluster slot.
    def stream(self, channel: ChannelName) -> str:
        return f"{self.prefix}{{{channel}}}:s"

    def stream_meta(self, channel: ChannelName) -> str:
        return f"{self.prefix}{{{channel}}}:m"

    def topic(self, channel: ChannelName) -> str:
        return f"{self.prefix}live:{channel}"

    def channel_of_topic(self, topic: str) -> ChannelName:
        return ChannelName(topic[len(self.prefix) + len("live:") :])

    def hold(self, calendar_id: str, specialist_id: str, start: str) -> str:
        return f"{self.prefix}hold:{calendar_id}:{specialist_id}:{start}"

    def rate(self, bucket: str, who: str) -> str:
        return f"{self.prefix}rl:{bucket}:{who}"

    def presence(self, channel: ChannelName) -> str:
        return f"{self.prefix}presence:{channel}"

    def named(self, *parts: str) -> str:
        """Any other key: `prefix` + parts joined by ':'."""
        return self.prefix + ":".join(parts)
