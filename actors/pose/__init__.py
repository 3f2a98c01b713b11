"""Pose workers: live telerehab sessions (frames in, feedback out), and the facade
(`SessionCommands`) the server calls them through."""

from actors.pose import messages
from actors.pose._commands import SessionCommands
from actors.pose._worker import PoseWorker, WorkerOptions

__all__ = ["PoseWorker", "SessionCommands", "WorkerOptions", "messages"]
