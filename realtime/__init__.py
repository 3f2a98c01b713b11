"""The WebSocket gateway: connections, channels, authorization, fan-out, recovery, presence."""
