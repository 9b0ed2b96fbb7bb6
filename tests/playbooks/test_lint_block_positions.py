"""An unknown template variable is reported on its own line, also inside a block (issue 12,
point 14)."""

from __future__ import annotations

from bot.playbooks.loader import load_text

BLOCK = """\
name: x
announcement: |-
  {incident} started
  Commander: @{comander} is in charge
checklists:
  - name: a
    tasks:
      - title: t
triggers:
  - on: declared
    do:
      - post: >-
          folded text
          with {severty} here
"""


def test_unknown_variables_in_blocks_point_at_their_own_line() -> None:
    _, problems = load_text(BLOCK, "p.yaml")
    assert [(p.line, p.col) for p in problems] == [(4, 15), (14, 16)]
    assert "'{comander}'. Did you mean 'commander'?" in problems[0].message
    assert "'{severty}'. Did you mean 'severity'?" in problems[1].message


def test_a_one_line_value_keeps_its_position() -> None:
    text = "name: x\nannouncement: 'hi {nope}'\n"
    _, problems = load_text(text, "p.yaml")
    assert [(p.line, p.col) for p in problems] == [(2, 19)]
