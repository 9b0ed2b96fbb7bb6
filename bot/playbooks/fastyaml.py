"""Fast YAML for big catalogs: libyaml's C parser with YAML 1.2 core-schema scalars.

PyYAML resolves YAML 1.1 (`no` -> False, `18:00` -> 1080); ruamel keeps YAML 1.2 but its
round-trip parse is the slow part of loading a catalog. Here libyaml parses and composes in C,
and a small builder turns the node tree into dicts, lists and 1.2 scalars (null, true/false,
ints, floats; everything else a string), skipping PyYAML's per-node resolver and constructor
machinery. Anything unusual (explicit tags, merge keys) goes through PyYAML's SafeConstructor.
Positions are for errors only: the loader re-parses with ruamel when there is one to report.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

STR = "tag:yaml.org,2002:str"
PLAIN = "tag:warroom,2026:plain"  # an untagged plain scalar, typed by _scalar
SEQ = "tag:yaml.org,2002:seq"
MAP = "tag:yaml.org,2002:map"
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_TRUE = frozenset(("true", "True", "TRUE"))
_FALSE = frozenset(("false", "False", "FALSE"))
_INT = re.compile(r"[-+]?[0-9][0-9_]*")
_BASED = re.compile(r"0o[0-7_]+|0x[0-9a-fA-F_]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?")
_NUMBER_START = frozenset("-+0123456789.")


class Yaml12Loader(_Base):  # type: ignore[misc, valid-type]
    """Composes in C; every plain scalar is tagged str here and typed by `_scalar`."""

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        # implicit[0]: plain (unquoted) and untagged.
        if kind is ScalarNode:
            return PLAIN if implicit[0] else STR
        return SEQ if kind is SequenceNode else MAP

    def descend_resolver(self, *args: object) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


def _scalar(node: ScalarNode) -> Any:
    value = node.value
    if node.style:  # quoted or block: always a string (plain is None, or "" from libyaml)
        return value
    if value in _NULLS:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if value[:1] in _NUMBER_START:
        if _INT.fullmatch(value):
            return int(value.replace("_", ""))
        if _BASED.fullmatch(value):
            return int(value.replace("_", ""), 0)
        if _FLOAT.fullmatch(value):
            return float(value)
        if value in (".inf", "+.inf", ".Inf", ".INF"):
            return float("inf")
        if value in ("-.inf", "-.Inf", "-.INF"):
            return float("-inf")
        if value in (".nan", ".NaN", ".NAN"):
            return float("nan")
    return value


class _Fallback(Exception):
    pass


def _build(node: Node) -> Any:
    """Nodes -> values. An alias is built again where it is used (catalogs have few); a
    recursive one ends in RecursionError, which falls back to PyYAML's constructor."""
    cls = type(node)
    if cls is ScalarNode:
        if node.tag == PLAIN:
            return _scalar(node)  # type: ignore[arg-type]
        if node.tag == STR:
            return node.value
        raise _Fallback
    if cls is SequenceNode:
        if node.tag != SEQ:
            raise _Fallback
        return [_build(child) for child in node.value]
    if cls is not MappingNode or node.tag != MAP:
        raise _Fallback
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if type(key_node) is not ScalarNode or key_node.tag != PLAIN or key_node.value == "<<":
            if key_node.tag != STR or type(key_node) is not ScalarNode:
                raise _Fallback  # merge keys, tagged or complex keys
            key = key_node.value
        else:
            key = _scalar(key_node)
        if type(value_node) is ScalarNode and value_node.tag == PLAIN:
            mapping[key] = _scalar(value_node)
        else:
            mapping[key] = _build(value_node)
    return mapping


def load_all(text: str) -> list[Any]:
    """Every document of a YAML stream (raises yaml.YAMLError on bad YAML)."""
    loader = Yaml12Loader(text)
    try:
        nodes = []
        while loader.check_node():
            nodes.append(loader.get_node())
    finally:
        loader.dispose()
    docs = []
    for node in nodes:
        try:
            docs.append(_build(node))
        except (_Fallback, RecursionError):
            docs.append(_construct(node))
    return docs


class _Constructor(yaml.SafeLoader):
    """PyYAML's SafeConstructor over our 1.2 scalars, for documents the builder leaves."""


def _construct(node: Node) -> Any:
    _retag(node)
    constructor = _Constructor("")
    return constructor.construct_document(node)


def _retag(node: Node, seen: set[int] | None = None) -> None:
    """Give plain scalars their 1.2 tags so SafeConstructor types them as the builder would."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, ScalarNode):
        if node.tag == PLAIN:
            value = _scalar(node)
            node.tag = STR
            if value is None:
                node.tag = "tag:yaml.org,2002:null"
            elif isinstance(value, bool):
                node.tag = "tag:yaml.org,2002:bool"
                node.value = "true" if value else "false"
            elif isinstance(value, int):
                node.tag = "tag:yaml.org,2002:int"
            elif isinstance(value, float):
                node.tag = "tag:yaml.org,2002:float"
        if node.value == "<<" and not node.style:
            node.tag = "tag:yaml.org,2002:merge"
        return
    children = (
        node.value if isinstance(node, SequenceNode) else [c for kv in node.value for c in kv]
    )
    for child in children:
        _retag(child, seen)
