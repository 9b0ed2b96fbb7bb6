"""Text the bot posts to Mattermost, made unable to ping a crowd.

Mattermost notifies a whole channel for `@channel`, `@all` and `@here`, and every member of a
user group for `@group-name`, wherever the word appears in a post (attachments included), a
trailing `.`, `-` or `_` trimmed. Text the bot re-posts comes from people, so in every `@word`
that is not a user's name a zero-width space goes after the `@`: the post reads the same, and
the server sees no mention. A user mention (`@alice`, the bot's own or one typed) still notifies
that user: the adapter says which names are users (group names never are one).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

BROADCAST = frozenset({"channel", "all", "here"})
ZERO_WIDTH_SPACE = "\u200b"
# Mattermost finds mentions after a non-word character (its `\B@`); names are letters, digits,
# dots, dashes and underscores.
_MENTION = re.compile(r"(?<![A-Za-z0-9_])@([A-Za-z0-9_][A-Za-z0-9._\-]*)")


def mentioned(text: str) -> list[str]:
    """The names after an `@` in text that could be users (lower-case, as Mattermost compares
    them), broadcasts left out."""
    names = []
    for match in _MENTION.finditer(text):
        for name in _candidates(match.group(1)):
            if name not in BROADCAST:
                names.append(name)
    return list(dict.fromkeys(names))


def neutralise(text: str, is_user: Callable[[str], bool] = lambda name: False) -> str:
    """Broadcasts and every `@name` that `is_user` does not know, made silent."""

    def replace(match: re.Match[str]) -> str:
        candidates = _candidates(match.group(1))
        if not any(c in BROADCAST for c in candidates) and any(is_user(c) for c in candidates):
            return match.group()
        return "@" + ZERO_WIDTH_SPACE + match.group(1)

    return _MENTION.sub(replace, text)


def _candidates(name: str) -> Iterable[str]:
    """The name and its forms with trailing `.`, `-`, `_` trimmed, as the server tries them."""
    name = name.lower()
    forms = [name]
    while name and name[-1] in "._-":
        name = name[:-1]
        forms.append(name)
    return [form for form in forms if form]
