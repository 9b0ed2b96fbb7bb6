"""The console's read-eval-print loop: `/incident ...` lines are commands, `/join`, `/as`
switch channel and user, and any other line is a message in the current channel."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

from bot.chat.console.chat import PLATFORM, ConsoleChat
from bot.core.commands import Declare, UsageError, parse_severity, parse_user
from bot.core.router import Reply, Router
from bot.core.service import Invocation

CONSOLE_HELP = """\
Console commands:
  /incident ...      an incident command (/incident help lists them)
  /join #CHANNEL     switch to a channel (e.g. /join #inc-1-db-down)
  /as USER           act as another user (e.g. /as alice)
  /channels          list channels
  /whoami            show the current user and channel
  /quit              leave (end of input does the same)
Any other line is a message in the current channel; in an incident channel it is recorded
on the incident's timeline. Lines starting with # are comments."""

ReadLine = Callable[[str], Awaitable[str | None]]


class ConsoleSession:
    def __init__(
        self, router: Router, chat: ConsoleChat, *, user: str, channel: str = "general"
    ) -> None:
        self.router = router
        self.chat = chat
        self.user = user
        self.channel = channel
        chat.know(channel)

    async def handle(self, line: str, read: ReadLine) -> bool:
        """Handle one input line; False when the session should end."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        if not line.startswith("/"):
            await self.message(line)
            return True
        verb, _, rest = line[1:].partition(" ")
        rest = rest.strip()
        match verb.lower():
            case "incident":
                await self.command(rest, read)
            case "join":
                await self.join(rest)
            case "as":
                await self.become(rest)
            case "channels":
                names = sorted(self.chat.channels)
                self.chat.say(self.channel, "(channels: " + ", ".join("#" + n for n in names) + ")")
            case "whoami":
                self.note(f"you are @{self.user} in #{self.channel}")
            case "help":
                self.note(CONSOLE_HELP)
            case "quit" | "exit":
                return False
            case _:
                self.note(
                    f"Unknown console command '/{verb}'. Type /help for console commands "
                    "or /incident help for incident commands."
                )
        return True

    async def command(self, text: str, read: ReadLine) -> None:
        ctx = Invocation(self.user, PLATFORM, self.channel)
        reply = await self.router.handle(ctx, text)
        if reply.open_form:
            declare = await self.form(read)
            if declare is None:
                return
            reply = await self.router.execute(ctx, declare)
        self.show(reply)

    async def form(self, read: ReadLine) -> Declare | None:
        """The console's stand-in for the declare form: one question per line."""
        title = (await read("Title: ") or "").strip()
        if not title:
            self.note("Declaring cancelled: an incident needs a title.")
            return None
        severity_text = (await read("Severity sev1..sev4 [sev3]: ") or "").strip() or "sev3"
        try:
            severity = parse_severity(severity_text)
        except UsageError as error:
            self.note(f"{error} Declaring cancelled; nothing was recorded.")
            return None
        service = (await read("Service (optional): ") or "").strip() or None
        private = (await read("Private? [y/N]: ") or "").strip().lower() in ("y", "yes")
        return Declare(title, severity, service, private)

    async def message(self, text: str) -> None:
        await self.router.service.record_message(PLATFORM, self.channel, self.user, text)

    async def join(self, rest: str) -> None:
        name = rest.strip().lstrip("#")
        if not name or " " in name:
            self.note("Usage: /join #CHANNEL")
            return
        if not await self.may_enter(self.user, name):
            self.note(f"#{name} is private: ask its commander to /incident page @{self.user}.")
            return
        self.chat.know(name)
        self.channel = name
        self.note(f"you are in #{name}")

    async def become(self, rest: str) -> None:
        try:
            user = parse_user(rest.strip())
        except UsageError:
            self.note("Usage: /as USER (e.g. /as alice)")
            return
        self.user = user
        self.note(f"you are @{self.user}")
        if not await self.may_enter(user, self.channel):
            # As on Slack and Mattermost: nobody is in a private channel uninvited.
            self.channel = "general"
            self.chat.know(self.channel)
            self.note(f"@{user} is not in that private channel: you are in #general")

    async def may_enter(self, user: str, channel: str) -> bool:
        """A private incident's channel admits its members and admins only (the platforms'
        private channels do the same)."""
        service = self.router.service
        incident = await service.store.incident_by_channel(PLATFORM, channel)
        if incident is None or not incident.private:
            return True
        ctx = Invocation(user, PLATFORM, None)
        return service.access.is_admin(ctx) or await service.access.is_member(ctx, incident)

    def show(self, reply: Reply) -> None:
        if not reply.text:
            return
        if reply.public:
            self.chat.say(self.channel, "warroom: " + reply.text)
        else:
            self.chat.say(self.channel, f"(only @{self.user} sees this) " + reply.text)

    def note(self, text: str) -> None:
        self.chat.say(self.channel, "(console) " + text)

    async def run(self, stream: TextIO | None = None) -> None:
        stream = stream or sys.stdin
        interactive = stream.isatty()

        async def read(prompt: str) -> str | None:
            if interactive:
                print(prompt, end="", flush=True)
            # Reading in a thread keeps the event loop (and any timers) running meanwhile.
            line = await asyncio.to_thread(stream.readline)
            return line if line else None

        while True:
            line = await read(f"@{self.user} #{self.channel}> ")
            if line is None or not await self.handle(line, read):
                break
