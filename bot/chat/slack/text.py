"""Text the bot posts to Slack, made unable to ping anyone it should not.

Slack reads `<...>` in message text as markup: `<!channel>`, `<!here>`, `<!everyone>` and
`<!subteam^S123|@team>` notify whole channels and groups, `<http://x|label>` hides a link. Text
the bot re-posts (titles, status updates, task titles, notes, reminders) comes from people, so
`&`, `<` and `>` are escaped as Slack's formatting guide says (`&amp;`, `&lt;`, `&gt;`), which
Slack shows as the characters themselves. What the bot itself builds survives: user mentions
`<@U123>` (the core names users as @U123, turned into mentions after escaping) and channel
links `<#C123>`.

This is the outbound half; decoding what Slack sends (`&amp;`, `<@U1|name>`) is translate.py's.
"""

from __future__ import annotations

import re

# A user mention or a channel link: markup that names one person or channel, never a crowd.
_KEPT = re.compile(r"<(?:@[UW][A-Z0-9]+|#[CG][A-Z0-9]+(?:\|[a-z0-9_\-]*)?)>")


def escape(text: str) -> str:
    """`&`, `<` and `>` escaped, except in user mentions and channel links."""
    out: list[str] = []
    position = 0
    for match in _KEPT.finditer(text):
        out.append(_escape(text[position : match.start()]))
        out.append(match.group())
        position = match.end()
    out.append(_escape(text[position:]))
    return "".join(out)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
