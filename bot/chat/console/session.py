"""The console's read-eval-print loop: `/incident ...` lines are commands, `/join`, `/as`
switch channel and user, and any other line is a message in the current channel."""

from __future__ import annotations

import asyncio
import os
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
        self.interactive = False  # reading from a terminal (set by run)
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
        """The console's stand-in for the declare form: one question per line. At a terminal
        a wrong answer asks again; from a script each question is shown with the line that
        answered it, and a wrong answer ends the form (asking again would eat more lines)."""

        async def ask(question: str) -> str:
            answer = (await read(question) or "").strip()
            if not self.interactive:
                self.note(f"{question}{answer}")
            return answer

        title = await ask("Title: ")
        if not title:
            self.note("Declaring cancelled: an incident needs a title.")
            return None
        while True:
            try:
                severity = parse_severity(await ask("Severity sev1..sev4 [sev3]: ") or "sev3")
                break
            except UsageError as error:
                if not self.interactive:
                    self.note(f"{error} Declaring cancelled; nothing was recorded.")
                    return None
                self.note(str(error))
        service = await ask("Service (optional): ") or None
        private = (await ask("Private? [y/N]: ")).lower() in ("y", "yes")
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
        new = name not in self.chat.channels
        self.chat.know(name)
        self.channel = name
        if new:
            # Incident channels come from /incident declare; say so, or a typo goes unseen.
            self.note(f"you are in #{name}, a new channel (see /channels for the others)")
        else:
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
        interactive = self.interactive = stream.isatty()
        terminal = _TerminalLines(stream) if interactive else None

        async def read(prompt: str) -> str | None:
            if interactive:
                print(prompt, end="", flush=True)
                assert terminal is not None
                line = await terminal.readline()
            else:
                # Reading in a thread keeps the event loop (and any timers) running meanwhile.
                line = await asyncio.to_thread(stream.readline)
            return line if line else None

        while not self.chat.closed:
            line = await read(f"@{self.user} #{self.channel}> ")
            if line is None or not await self.handle(line, read):
                break


class _TerminalLines:
    """Lines from a terminal without a thread: the loop wakes when input is there. A thread
    blocked in readline() would hold up Ctrl-C until the next Enter, because the interpreter
    waits for it before it exits. Reads the descriptor itself, so pasted lines are not left
    in a buffer the loop cannot see."""

    def __init__(self, stream: TextIO) -> None:
        self.fd = stream.fileno()
        self.pending = b""
        self.eof = False

    async def readline(self) -> str:
        loop = asyncio.get_running_loop()
        while b"\n" not in self.pending and not self.eof:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(self.fd, _wake, ready)
            try:
                await ready
            finally:
                loop.remove_reader(self.fd)
            chunk = os.read(self.fd, 4096)
            self.pending += chunk
            self.eof = not chunk
        line, newline, self.pending = self.pending.partition(b"\n")
        return (line + newline).decode(errors="replace")


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)
