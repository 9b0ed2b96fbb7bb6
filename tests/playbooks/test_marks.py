"""Positions from libyaml's nodes are ruamel's positions, path by path (keys, values, missing
keys, merged keys, aliases, flow and block styles, several documents), but for an empty value:
ruamel puts it at the next token (often the next line's key), libyaml right after its colon."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from yaml.nodes import MappingNode, SequenceNode

from bot.core.playbook_check import Loc
from bot.playbooks import marks, yamlpos

ROOT = Path(__file__).resolve().parents[2]

TEXTS = [
    "teams:\n  - name: web\n    members: [wes, ana]\n    rotation:\n"
    "      - members:\n          - wes\n          - ana\n        start: 2027-01-04T09:00:00\n"
    "        restrict: {days: [mon, tue], from: '09:00'}\n"
    "services:\n- name: site\n  owner: web\n  dependencies:\n  - db\n  tier: 9\n",
    "base: &b\n  owner: web\n  tier: 2\nservices:\n  - <<: *b\n    name: a\n"
    "  - <<: [*b, {runbook: x}]\n    name: b\n    tier: 3\n  - *b\n",
    "# a comment first\n\n---\napiVersion: backstage.io/v1alpha1\nkind: Group\n"
    "metadata:\n  name: payments\n  annotations:\n    warroom.dev/runbok: x\n"
    "spec: {type: team, members: [ana, 'bob']}\n---\n---\nkind: User\nmetadata: {name: ana}\n"
    'spec:\n  memberOf:\n    - "group:payments"\n',
    "a:\n  b:\n    c: |\n      block\n    d: >-\n      folded\n  e: []\n  f: {}\n  g:\n",
    "1: one\nx: yes\n'q': quoted\n2.5: f\n",
]


def paths(value: Any, loc: Loc = ()) -> Iterator[Loc]:
    yield loc
    if isinstance(value, dict):
        yield (*loc, "missing")
        for k, v in value.items():
            yield (*loc, k, "[key]")
            yield from paths(v, (*loc, k))
    elif isinstance(value, list):
        yield (*loc, len(value))
        for i, v in enumerate(value):
            yield from paths(v, (*loc, i))


def value_at(data: Any, loc: Loc) -> Any:
    for step in loc:
        if isinstance(data, dict) and step in data:
            data = data[step]
        elif isinstance(data, list) and isinstance(step, int) and step < len(data):
            data = data[step]
        else:
            return "missing"
    return data


def cases() -> Iterator[tuple[str, str]]:
    for i, text in enumerate(TEXTS):
        yield f"text{i}", text
    for path in [ROOT / "catalog.example.yaml", *sorted((ROOT / "examples").rglob("*.yaml"))]:
        yield path.name, path.read_text()


@pytest.mark.parametrize(("name", "text"), list(cases()))
def test_positions_are_ruamels(name: str, text: str) -> None:
    documents = list(YAML().load_all(text))
    nodes = marks.compose_all(text)
    assert len(nodes) == len(documents)
    plain = list(YAML(typ="safe", pure=True).load_all(text))
    checked = 0
    for node, document, data in zip(nodes, documents, plain, strict=True):
        for loc in paths(data):
            for key in (False, True):
                if loc[-1:] == ("[key]",):
                    loc, key = loc[:-1], True
                expected = yamlpos.position(document, loc, key=key)
                got = marks.position(node, loc, key=key)
                if not key and loc and value_at(data, loc) is None:
                    assert got[0] == yamlpos.position(document, loc, key=True)[0], (name, loc)
                else:
                    assert got == expected, (name, loc, key)
                checked += 1
    assert checked > 0


MORE = [
    ("comment-then-doc", "# c\n---\na: 1\n"),
    ("content-first", "a: 1\n---\nb: [x]\n---\n---\nc: {d: e}\n--- {f: g}\n"),
    ("document-end", "a: 1\n...\n---\nb: [x]\n"),  # `...`: composed as a whole
]


@pytest.mark.parametrize(("name", "text"), [*cases(), *MORE])
def test_one_document_at_a_time_is_the_whole_stream(name: str, text: str) -> None:
    """Documents composes one document's text alone; its positions are the whole stream's."""
    whole = marks.compose_all(text)
    documents = marks.Documents(text)
    assert len(documents) == len(whole)
    plain = list(YAML(typ="safe", pure=True).load_all(text))
    for index in reversed(range(len(whole))):  # out of order, as problems come
        collection = isinstance(whole[index], MappingNode | SequenceNode)
        for loc in paths(plain[index]):
            expected = marks.position(whole[index], loc) if collection else (0, 0)
            assert documents.position(index, loc) == expected, (name, index, loc)
