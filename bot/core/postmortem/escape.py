"""Text from chat -> text that is safe anywhere in an exported Markdown document.

A postmortem is pasted into repositories, wikis and back into chat, so recorded text must not
break the document (a `|` in a table cell, an unclosed `<!--`) or ping a whole channel when the
document is posted (`@here`, Slack's `<!channel>`). Every function here is idempotent: running
text through it twice gives the same result, so a template may apply a filter to text that the
renderer already made safe.
"""

from __future__ import annotations

import re

# Slack's special sequences (https://api.slack.com/reference/surfaces/formatting):
# <@U123|name> user, <#C123|name> channel, <!here> / <!channel> / <!everyone> broadcasts,
# <!subteam^S123|@team> user groups, <!date^...|fallback> dates.
_SLACK_USER = re.compile(r"<@([A-Z0-9]+)(?:\|([^>]*))?>")
_SLACK_CHANNEL = re.compile(r"<#([A-Z0-9]+)(?:\|([^>]*))?>")
_SLACK_SPECIAL = re.compile(r"<!([a-z]+)(?:\^[^>|]*)?(?:\|([^>]*))?>")
# Plain-text broadcasts on Slack (with link_names), Mattermost and GitHub. Not after a word
# character (an e-mail address) and not already inside our own code span.
_BROADCAST = re.compile(r"(?<![\w`])@(here|channel|all|everyone)\b(?!`)", re.IGNORECASE)
# Raw HTML would be live in a rendered document (`<!--` hides everything after it); our own
# `<br>` line breaks in table cells are the one tag we let through.
_ANGLE = re.compile(r"<(?!br>)")
_MERMAID_UNSAFE = re.compile(r"[^\w .\-/+()]")
# A pipe after an even run of backslashes (none, or escaped backslashes) still splits a GFM
# table cell: GFM reads `\\` as one escaped character.
_UNESCAPED_PIPE = re.compile(r"(?<!\\)((?:\\\\)*)\|")
# Characters any of the functions below would change; most chat lines have none of them,
# and a 10,000-event export calls these for every line.
_SPECIAL = re.compile(r"[<@|\r\n]")


def _special(match: re.Match[str]) -> str:
    name, label = match.group(1), match.group(2)
    if name in ("here", "channel", "everyone"):
        return f"`@{name}`"
    if name == "subteam":
        # A user group still pings its members: readable, but inside a code span.
        return f"`@{(label or 'group').lstrip('@')}`"
    # A date or anything newer: its fallback label is what a reader saw.
    return label or f"`{name}`"


def safe_text(text: object) -> str:
    """Defuse mentions and raw HTML; keep user and channel mentions readable (`@alice`)."""
    if text is None:
        return ""
    result = str(text)
    if "<" in result:
        result = _SLACK_USER.sub(lambda m: "@" + (m.group(2) or m.group(1)), result)
        result = _SLACK_CHANNEL.sub(lambda m: "#" + (m.group(2) or m.group(1)), result)
        result = _SLACK_SPECIAL.sub(_special, result)
        result = _ANGLE.sub("&lt;", result)
    if "@" in result:
        result = _BROADCAST.sub(lambda m: f"`{m.group(0)}`", result)
    return result


def inline(text: object) -> str:
    """One line of text (a heading, a list item): line breaks become spaces."""
    return " ".join(safe_text(text).split())


def cell(text: object) -> str:
    """A Markdown table cell: pipes escaped, line breaks as `<br>`."""
    if isinstance(text, str) and not _SPECIAL.search(text):
        return text
    result = safe_text(text).replace("\r\n", "\n").replace("\r", "\n")
    # Escape only pipes not escaped yet, so the filter stays idempotent.
    result = _UNESCAPED_PIPE.sub(r"\1\\|", result)
    return result.strip("\n").replace("\n", "<br>")


def quote(text: object) -> str:
    """A Markdown block quote, every line prefixed so nothing escapes the quote."""
    lines = safe_text(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(("> " + line).rstrip() for line in lines)


def mermaid_label(text: object) -> str:
    """A name inside a Mermaid diagram: `:`, `;`, `#` and quotes are syntax there."""
    return " ".join(_MERMAID_UNSAFE.sub(" ", str(text)).split()) or "-"
