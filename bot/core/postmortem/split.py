"""Splitting a long document into chat-sized messages (the fallback when uploads are refused)."""

from __future__ import annotations

# Mattermost refuses posts over 16,383 characters and Slack truncates past 40,000; stay well
# under both, leaving room for the platform's own escaping of & < >.
MESSAGE_LIMIT = 12_000


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut at line ends where possible, so a table row
    or a quoted line is never split in the middle."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        while len(line) > limit:  # a single huge line: cut it, nothing better to do
            if current:
                pieces.append("".join(current))
                current, size = [], 0
            pieces.append(line[:limit])
            line = line[limit:]
        if size + len(line) > limit:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        pieces.append("".join(current))
    return [piece.rstrip("\n") for piece in pieces if piece.strip()] or [""]
