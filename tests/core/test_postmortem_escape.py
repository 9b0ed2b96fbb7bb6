"""Escaping of recorded chat text in exported documents."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.postmortem.escape import cell, inline, mermaid_label, quote, safe_text

# Text built from the characters that matter, so the examples hit the interesting cases.
PIECES = [*"ab |\\\n\r<>!@#^`-*_", "here", "channel", "<!", "<@U1>", "<br>"]
chatty = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("<!here> look", "`@here` look"),
        ("<!channel|@channel> and <!everyone>", "`@channel` and `@everyone`"),
        ("ping @here and @Channel, @all", "ping `@here` and `@Channel`, `@all`"),
        ("<@U024BE7LH> and <@U1|alice>", "@U024BE7LH and @alice"),
        ("see <#C024BE7LR|general>", "see #general"),
        ("<!subteam^SAZ94GDB8|@oncall> wake up", "`@oncall` wake up"),
        ("on <!date^1392734382^{date}|Feb 18, 2014>", "on Feb 18, 2014"),
        ("<!-- hides the rest <script>", "&lt;!-- hides the rest &lt;script>"),
        ("mail ops@here.example", "mail ops@here.example"),
        ("a &lt; b (as Slack sends it)", "a &lt; b (as Slack sends it)"),
    ],
)
def test_safe_text(raw: str, safe: str) -> None:
    assert safe_text(raw) == safe


def test_cells_quotes_and_labels() -> None:
    assert cell("a | b\nc\r\nd") == "a \\| b<br>c<br>d"
    assert cell("already \\| escaped") == "already \\| escaped"
    assert cell("C:\\\\|x") == "C:\\\\\\|x"
    assert quote("one\n\ntwo @here") == "> one\n>\n> two `@here`"
    assert inline("a\n  b\tc") == "a b c"
    assert mermaid_label('api: v2; #1 "x"') == "api v2 1 x"
    assert safe_text(None) == ""


@given(chatty)
def test_a_cell_never_breaks_its_row_or_pings(text: str) -> None:
    result = cell(text)
    assert "\n" not in result and "\r" not in result
    assert re.search(r"(?<!\\)(\\\\)*\|", result) is None  # GFM: `\\|` splits, `\|` not
    assert "<!" not in result and re.search(r"<(?!br>)", result) is None
    assert cell(result) == result  # idempotent: templates may filter twice


@given(chatty)
def test_broadcasts_are_always_in_code_spans(text: str) -> None:
    for result in (safe_text(text), quote(text), inline(text)):
        for match in re.finditer(
            r"(?<![\w`])@(here|channel|all|everyone)\b", result, re.IGNORECASE
        ):
            assert result[match.end() : match.end() + 1] == "`", result
        assert safe_text(result) == result


@given(chatty)
def test_a_quote_keeps_every_line_inside(text: str) -> None:
    assert all(line.startswith(">") for line in quote(text).split("\n"))
