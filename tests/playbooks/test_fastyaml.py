"""The fast catalog parser reads what ruamel (YAML 1.2) reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bot.playbooks.fastyaml import load_all

ROOT = Path(__file__).resolve().parents[2]
CASES = [
    "a: no\nb: on\nc: 18:00\nd: 0o17\ne: 1_000\nf: 0x1F\n",
    "n: ~\nm:\nk: null\nt: true\nF: False\ni: -12\nx: 1.5e3\ny: .5\nz: -.inf\n",
    "q: \"1\"\nr: 'true'\ns: !!str 12\nw: 2027-03-29T07:30:00Z\nblock: |\n  two\n  lines\n",
    "base: &b {x: 1, y: [a, b]}\nm:\n  <<: *b\n  y: off\nalias: *b\n",
    "---\na: 1\n---\nb: [1, {c: d}]\n...\n",
]


@pytest.mark.parametrize("text", CASES)
def test_same_as_ruamel_yaml_12(text: str) -> None:
    expected = list(YAML(typ="safe", pure=True).load_all(text))
    got = load_all(text)
    # ruamel reads timestamps as datetimes; the catalog's models parse the string the same.
    for doc in expected:
        if isinstance(doc, dict) and "w" in doc:
            doc["w"] = "2027-03-29T07:30:00Z"
    assert got == expected


def test_the_shipped_catalogs_parse_the_same() -> None:
    for path in [ROOT / "catalog.example.yaml", *sorted((ROOT / "examples").rglob("*.yaml"))]:
        text = path.read_text()
        assert load_all(text) == list(YAML(typ="safe", pure=True).load_all(text)), path
