"""Whatever an author writes, lint answers with problems, never an exception."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from bot.playbooks.catalog_loader import load_catalog_text
from bot.playbooks.loader import load_text

KEYS = [
    "name",
    "roles",
    "checklists",
    "tasks",
    "title",
    "assignee",
    "due_after",
    "triggers",
    "on",
    "do",
    "post",
    "every",
    "status_updates",
    "applies_to",
    "severities",
    "teams",
    "services",
    "owner",
    "when",
    "remind",
    "after",
    "text",
    "x",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(["15m", "sev1", "{incident}", "{"]),
    st.text(max_size=8),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=4),
    ),
    max_leaves=25,
)


def dump(value: object) -> str:
    out = io.StringIO()
    YAML().dump(value, out)
    return out.getvalue()


@settings(max_examples=300, deadline=None)
@given(documents)
def test_structured_nonsense_gives_problems_not_exceptions(doc: object) -> None:
    text = dump(doc)
    loaded, problems = load_text(text, "p.yaml")
    assert (loaded is None) == bool(problems)
    catalog, problems = load_catalog_text(text, "c.yaml")
    assert (catalog is None) == bool(problems)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_gives_problems_not_exceptions(text: str) -> None:
    load_text(text, "p.yaml")


def test_merge_keys_are_located() -> None:
    text = "base: &b {name: x}\n<<: *b\nchecklists: 3\n"
    _, problems = load_text(text, "p.yaml")
    assert problems and all(p.path == "p.yaml" for p in problems)
