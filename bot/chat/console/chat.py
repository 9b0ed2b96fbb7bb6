"""ConsoleChat: the Chat port printed to a terminal, keeping a record of what it did."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.model import Incident, Task
from bot.core.ports import Channel, ChannelNameTaken
from bot.core.views import task_lines

PLATFORM = "console"


@dataclass
class ConsoleChannel:
    name: str
    private: bool = False
    topic: str = ""
    members: set[str] = field(default_factory=set)


class ConsoleChat:
    platform = PLATFORM

    def __init__(self, write: Callable[[str], None] = print, *, files: Path | None = None) -> None:
        self.write = write
        # Where uploads (the postmortem) are written; None keeps them in memory (drills, tests).
        self.files = files
        self.channels: dict[str, ConsoleChannel] = {}
        self.posts: list[tuple[str, str]] = []  # (channel, text), in order: tests read these
        self.messages: dict[str, tuple[str, str]] = {}  # id -> (channel, current text)
        self.pins: set[str] = set()
        self.uploads: list[tuple[str, str, bytes]] = []
        self.pages: list[tuple[str, int, str]] = []  # (user, incident number, text) DMs
        self._ids = itertools.count(1)

    @property
    def closed(self) -> bool:
        """The reader of the output has gone (a closed pipe): stop producing more."""
        return bool(getattr(self.write, "closed", False))

    def know(self, name: str, *, private: bool = False) -> None:
        """Register a channel that exists already (an earlier run's incident channel)."""
        self.channels.setdefault(name, ConsoleChannel(name, private))

    async def create_channel(self, name: str, *, private: bool) -> Channel:
        if name in self.channels:
            raise ChannelNameTaken(name)
        self.channels[name] = ConsoleChannel(name, private)
        kind = "private channel" if private else "channel"
        self.write(f"[#{name}] ({kind} created)")
        return Channel(name, name)

    async def invite(self, channel: Channel, users: Sequence[str]) -> None:
        room = self.channels.setdefault(channel.id, ConsoleChannel(channel.id))
        new = [user for user in users if user not in room.members]
        room.members.update(new)
        if new:
            self.write(f"[#{channel.id}] ({', '.join('@' + u for u in new)} added)")

    async def set_topic(self, channel: Channel, topic: str) -> None:
        room = self.channels.setdefault(channel.id, ConsoleChannel(channel.id))
        room.topic = topic
        self.write(f"[#{channel.id}] (topic: {topic})")

    async def post(self, channel_id: str, text: str) -> str:
        name = channel_id.lstrip("#")
        message_id = str(next(self._ids))
        self.posts.append((name, text))
        self.messages[message_id] = (name, text)
        self.say(name, "warroom: " + text)
        return message_id

    async def update(self, channel_id: str, message_id: str, text: str) -> None:
        name = channel_id.lstrip("#")
        if self.messages.get(message_id, (name, ""))[1] == text:
            return
        self.messages[message_id] = (name, text)
        # One line, not the whole message again: the console is read top to bottom.
        what = "pinned message" if message_id in self.pins else f"message {message_id}"
        self.write(f"[#{name}] ({what} updated)")

    async def pin(self, channel_id: str, message_id: str) -> None:
        self.pins.add(message_id)

    async def post_checklist(self, channel_id: str, incident: Incident, tasks: list[Task]) -> str:
        return await self.post(channel_id, task_lines(incident, tasks))

    async def update_checklist(
        self, channel_id: str, message_id: str, incident: Incident, tasks: list[Task]
    ) -> None:
        await self.update(channel_id, message_id, task_lines(incident, tasks))

    async def upload(self, channel_id: str, filename: str, content: bytes, title: str) -> None:
        name = channel_id.lstrip("#")
        self.uploads.append((name, filename, content))
        if self.files is None:
            self.write(f"[#{name}] (file {filename}: {title}, {len(content)} bytes)")
            return
        path = self.files / Path(filename).name
        try:
            await asyncio.to_thread(path.write_bytes, content)
        except OSError as error:
            self.write(
                f"[#{name}] (file {filename}: {title}: cannot write {path}: {error.strerror})"
            )
            return
        self.write(f"[#{name}] (file {filename}: {title}, {len(content)} bytes, written to {path})")

    def channel_link(self, channel: Channel) -> str:
        return f"#{channel.name}"

    async def direct_channel(self, user: str) -> str:
        """A direct message to `user` is a post in the channel `@user` (alert offers)."""
        return f"@{user}"

    async def send_page(self, user: str, incident: Incident, text: str) -> str:
        """A page's direct message; the console's Acknowledge button is /incident ack."""
        self.pages.append((user, incident.number, text))
        self.write(f"[@{user}] (direct message) warroom: {text} [Acknowledge]")
        return str(next(self._ids))

    def say(self, channel: str, text: str) -> None:
        """Print text in a channel, every line prefixed so piped output stays greppable."""
        prefix = f"[#{channel}] "
        lines = text.splitlines() or [""]
        self.write(prefix + lines[0])
        for line in lines[1:]:
            self.write(prefix + "  " + line)
