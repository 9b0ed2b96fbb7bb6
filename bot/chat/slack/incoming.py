"""Slack's markup in text people typed -> the text as they typed it (pure functions).

With `should_escape` on (the manifest sets it), Slack sends a slash command's text the way it
sends message text: `&`, `<` and `>` as `&amp; &lt; &gt;`, and mentions, channels and links as
`<@U123|alice>`, `<#C123|general>`, `<https://example.com|label>`, `<!here>`,
`<!subteam^S123|@oncall>`. warroom stores and names channels after what people wrote, so this
is decoded on the way in, before anything is stored; escaping on the way out is a separate job.
"""

from __future__ import annotations

import re
from typing import Literal

_MARKUP = re.compile(r"<([^<>]*)>")
_BROADCASTS = frozenset({"here", "channel", "everyone"})

Mentions = Literal["id", "name"]


def unescape(text: str) -> str:
    """Slack's three HTML entities back to characters (`&amp;` last, so `&amp;lt;` stays
    `&lt;`)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def plain_text(text: str, *, mentions: Mentions = "name") -> str:
    """Decode Slack markup. `mentions="id"` keeps users as `@U123` (what the command grammar
    takes), `"name"` shows `@alice` where Slack sent the name (and `@U123` where it did not)."""
    parts: list[str] = []
    last = 0
    for match in _MARKUP.finditer(text or ""):
        parts.append(unescape(text[last : match.start()]))
        parts.append(_token(match.group(1), mentions))
        last = match.end()
    parts.append(unescape((text or "")[last:]))
    return "".join(parts)


def _token(inner: str, mentions: Mentions) -> str:
    target, _, label = inner.partition("|")
    label = unescape(label)
    if target.startswith("@"):  # <@U123> or <@U123|alice>
        return f"@{label}" if label and mentions == "name" else f"@{target[1:]}"
    if target.startswith("#"):  # <#C123|general> or <#C123>
        return f"#{label}" if label else f"#{target[1:]}"
    if target.startswith("!"):  # <!here>, <!subteam^S123|@oncall>, <!date^...|fallback>
        command = target[1:].split("^", 1)[0]
        if command in _BROADCASTS:
            return f"@{command}"
        return label or f"@{command}"
    url = unescape(target)
    if url.startswith("mailto:"):
        return label or url.removeprefix("mailto:")
    if not label or label == url:
        return url
    return f"{label} ({url})"
