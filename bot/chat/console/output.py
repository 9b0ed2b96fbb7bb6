"""Standard output for the console and drills that survives its reader going away.

`warroom drill default | head -1` closes the pipe after one line; the next write raises
BrokenPipeError, which must end the program quietly, as Unix tools do, rather than surface
inside the incident code as a failed step (and a traceback, and a misleading reply)."""

from __future__ import annotations

import os
import sys


class Output:
    """A `write(line)` for ConsoleChat: prints, and after the reader has gone drops
    everything and reports `closed`, so the loop feeding it can stop."""

    def __init__(self) -> None:
        self.closed = False

    def __call__(self, line: str) -> None:
        if self.closed:
            return
        try:
            print(line, flush=True)
        except BrokenPipeError:
            self.closed = True
            # Point stdout at /dev/null so the interpreter's final flush cannot fail again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
