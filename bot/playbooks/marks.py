"""Positions for catalog problems from libyaml's node tree (C composer marks), not ruamel's
round trip: a typo in a 2,000-service catalog is reported in about the time libyaml takes to
compose the file, where ruamel took seconds (12 s native, 35 s Backstage on the bench's).

`position` answers as bot/playbooks/yamlpos.position does over ruamel's documents (a test
compares them path by path): the value at a path, its key, or the nearest existing parent. One
difference: an empty value (`owner:`) is right after its key's colon, where ruamel puts it at
the next token, often the next line's key.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.core.playbook_check import Loc
from bot.playbooks.fastyaml import PLAIN, Yaml12Loader, scalar


def compose_all(text: str) -> list[Node]:
    """Every document's node tree (raises yaml.YAMLError on what libyaml refuses)."""
    return list(yaml.compose_all(text.removeprefix("\ufeff"), Loader=Yaml12Loader))


# A line starting with `---` (then a space or the line's end) always starts a document: YAML
# forbids it inside any content. `...` and directives make numbering subtler: whole stream.
_START = re.compile(r"^---(?=[ \t\r\n]|\Z)", re.M)
_SUBTLE = re.compile(r"^(?:\.\.\.(?=[ \t\r\n]|\Z)|%)", re.M)


class Documents:
    """A stream's documents, each composed on first need and alone: a problem in one of
    12,000 Backstage descriptors in one file costs that descriptor, not the file."""

    def __init__(self, text: str) -> None:
        self.text = text.removeprefix("\ufeff")
        self._done: dict[int, tuple[Node | None, int]] = {}
        self._all: list[Node] | None = None
        self._bounds: list[int] | None = None
        if not _SUBTLE.search(self.text):
            starts = [m.start() for m in _START.finditer(self.text)]
            head = self.text[: starts[0]] if starts else self.text
            # What precedes the first `---` is a document only if it holds more than comments.
            content = any(
                line.strip() and not line.lstrip().startswith("#") for line in head.splitlines()
            )
            self._bounds = ([0] if content else []) + starts

    def __len__(self) -> int:
        if self._bounds is None:
            return len(self._whole())
        return len(self._bounds)

    def _whole(self) -> list[Node]:
        if self._all is None:
            self._all = compose_all(self.text)
        return self._all

    def node(self, index: int) -> tuple[Node | None, int]:
        """The document's node tree and the line its text starts at."""
        if self._bounds is None:
            return self._whole()[index], 0
        if index not in self._done:
            begin = self._bounds[index]
            end = self._bounds[index + 1] if index + 1 < len(self._bounds) else len(self.text)
            chunk = self.text[begin:end]
            nodes = list(yaml.compose_all(chunk, Loader=Yaml12Loader))
            self._done[index] = (nodes[0] if nodes else None, self.text.count("\n", 0, begin))
        return self._done[index]

    def position(self, index: int, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        """0-based (line, col) in the whole text, as `position` gives over compose_all."""
        root, offset = self.node(index)
        if not isinstance(root, MappingNode | SequenceNode):
            return 0, 0
        line, col = position(root, loc, key=key)
        return line + offset, col


def _key(node: Node) -> Any:
    if isinstance(node, ScalarNode):
        return scalar(node) if node.tag == PLAIN else node.value
    return None  # a complex key: never on a path our checks build


def _at(node: Node) -> tuple[int, int]:
    return node.start_mark.line, node.start_mark.column


def _find(mapping: MappingNode, step: Any) -> tuple[Node, Node, bool] | None:
    """(key node, value node, own) for `step`: its own key first, else the first merge source
    (`<<: *base` or `<<: [*a, *b]`) that has it."""
    merges: list[Node] = []
    for key_node, value_node in mapping.value:
        if isinstance(key_node, ScalarNode) and key_node.value == "<<" and not key_node.style:
            merges.extend(
                value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            )
        elif _key(key_node) == step:
            return key_node, value_node, True
    for source in merges:
        if isinstance(source, MappingNode) and (found := _find(source, step)) is not None:
            return found[0], found[1], False
    return None


def position(root: Node | None, loc: Loc, *, key: bool = False) -> tuple[int, int]:
    """0-based (line, col) of the value at loc; of the key itself when `key`; of the nearest
    existing parent when loc runs past what the document has (a missing key)."""
    if root is None:
        return 0, 0
    # ruamel keeps no position for a document that is a bare scalar (or empty): 0, 0.
    collection = isinstance(root, MappingNode | SequenceNode)
    node, where = root, ((root.start_mark.line, 0) if collection else (0, 0))
    for i, step in enumerate(loc):
        last = i == len(loc) - 1
        found = _find(node, step) if isinstance(node, MappingNode) else None
        if found is not None:
            key_node, value_node, own = found
            want_key = (key and last) or loc[i + 1 : i + 2] == ("[key]",)
            # Keys brought in by a merge have no position of their own here (as with ruamel).
            where = (_at(key_node) if want_key else _at(value_node)) if own else _at(node)
            node = value_node
        elif isinstance(node, SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
            where = _at(node)
        else:
            if isinstance(node, MappingNode | SequenceNode) and last:
                where = _at(node)
            break
    return where
