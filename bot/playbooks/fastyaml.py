"""Fast YAML for big catalogs: YAML 1.2 as ruamel reads it, without positions.

Two parsers, both much faster than ruamel's round trip (positions are looked up only when
there is a problem to report, from libyaml's marks: bot/playbooks/marks.py):

- yaml-rs (Rust) builds the whole stream, dicts, lists and 1.2 scalars, in native code: about
  4x faster than libyaml's C composer alone, which builds a Python node (and two marks) per
  value before anything is converted (bench/catalog.py prints both).
- libyaml's C parser plus a small builder below, for the streams whose meaning yaml-rs would
  not give as ruamel does: merge keys (yaml-rs keeps `<<` as a plain key), tags (it ignores
  unknown ones), directives, control characters, NEL/LS/PS, and a stream whose first document
  is a sequence (yaml-rs returns one document bare and several as a list, so a top-level list
  is ambiguous).

Known differences left on the yaml-rs path (tests pin them): a few plain scalars that ruamel
reads as strings are numbers to yaml-rs (`_10`, `1e1_`, `.1e1`), and `?x`/`:x` inside a flow
collection are strings to it (YAML 1.2) where ruamel reads a key indicator (YAML 1.1).

PyYAML alone resolves YAML 1.1 (`no` -> False, `18:00` -> 1080); here plain scalars are typed
by YAML 1.2's core schema (null, true/false, ints, floats; everything else a string), skipping
PyYAML's per-node resolver and constructor machinery. Anything unusual (explicit tags, merge
keys) goes through PyYAML's SafeConstructor.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
import yaml_rs
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

STR = "tag:yaml.org,2002:str"
PLAIN = "tag:warroom,2026:plain"  # an untagged plain scalar, typed by scalar
SEQ = "tag:yaml.org,2002:seq"
MAP = "tag:yaml.org,2002:map"
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_TRUE = frozenset(("true", "True", "TRUE"))
_FALSE = frozenset(("false", "False", "FALSE"))
# ruamel's YAML 1.2 number grammar (ruamel/yaml/resolver.py), tried in its order: float first.
_FLOAT = re.compile(
    r"[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
    r"|[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?"
)
_INT = re.compile(r"[-+]?(?:0b[0-1_]+|0o?[0-7_]+|[0-9_]+|0x[0-9a-fA-F_]+)")
_INFINITY = {".inf": 1.0, "+.inf": 1.0, "-.inf": -1.0}
_NUMBER_START = frozenset("-+0123456789.")


class Yaml12Loader(_Base):  # type: ignore[misc, valid-type]
    """Composes in C; every plain scalar is tagged str here and typed by `scalar`."""

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        # implicit[0]: plain (unquoted) and untagged.
        if kind is ScalarNode:
            return PLAIN if implicit[0] else STR
        return SEQ if kind is SequenceNode else MAP

    def descend_resolver(self, *args: object) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


def scalar(node: ScalarNode) -> Any:
    """A scalar node's value by YAML 1.2's core schema (quoted and block scalars are strings)."""
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
        try:
            return _number(value)
        except ValueError:  # digits and underscores only ("+_"): ruamel fails there too
            return value
    return value


def _number(value: str) -> Any:
    if _FLOAT.fullmatch(value):
        return float(value.replace("_", ""))
    if _INT.fullmatch(value):
        digits = value.replace("_", "")
        sign = -1 if digits[:1] == "-" else 1
        digits = digits.lstrip("+-")
        for prefix, base in (("0b", 2), ("0x", 16), ("0o", 8)):
            if digits.startswith(prefix):
                return sign * int(digits[2:], base)
        return sign * int(digits)
    lowered = value.lower()
    if lowered in _INFINITY and value[-3:] in ("inf", "Inf", "INF"):
        return _INFINITY[lowered] * float("inf")
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
            return scalar(node)  # type: ignore[arg-type]
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
            key = scalar(key_node)
        if type(value_node) is ScalarNode and value_node.tag == PLAIN:
            mapping[key] = scalar(value_node)
        else:
            mapping[key] = _build(value_node)
    return mapping


class Refused(ValueError):
    """The fast parsers refuse the stream (ruamel then says where and why)."""


def load_all(text: str) -> list[Any]:
    """Every document of a YAML stream, empty ones as None (as ruamel numbers them: a
    problem's position is looked up by document index). Raises Refused on bad YAML."""
    text = text.removeprefix("\ufeff")
    if _rust_reads_it(text):
        try:
            value = yaml_rs.loads(text, parse_datetime=False)
        except (yaml_rs.YAMLDecodeError, RecursionError) as error:
            raise Refused(str(error)) from None
        if value is None:  # no document, or one empty one: nothing to number
            return []
        # A list is several documents: _rust_reads_it made sure the first is not a sequence.
        return value if isinstance(value, list) else [value]
    try:
        return load_all_libyaml(text)
    except yaml.YAMLError as error:
        raise Refused(str(error)) from None


# Bytes a YAML stream may hold as they are (ASCII controls other than tab and line ends not).
_PRINTABLE = bytes([9, 10, 13, *range(0x20, 0x7F), *range(0x80, 0x100)])
_TAG = re.compile(r"(?:^|[\s\[{,])!", re.M)
# C1 controls and non-characters (ruamel refuses them), and NEL, LS and PS, which YAML 1.1
# readers such as ruamel take for line breaks and YAML 1.2 readers such as yaml-rs do not.
_LIBYAML_ONLY = re.compile("[\x80-\x9f\ufffe\uffff\u2028\u2029]")


def _rust_reads_it(text: str) -> bool:
    """Whether yaml-rs gives this stream the meaning ruamel gives it (see the module's
    docstring). Substring tests run in C: a few ms for megabytes."""
    if "<<" in text or text.startswith("%") or "\n%" in text:
        return False
    if "!" in text and _TAG.search(text):
        return False
    data = text.encode("utf-8", "surrogatepass")
    if data.translate(None, _PRINTABLE):
        return False
    if any(lead in data for lead in (b"\xc2", b"\xef\xbf", b"\xe2\x80")) and _LIBYAML_ONLY.search(
        text
    ):
        return False
    return not _first_is_sequence(text)


def _first_is_sequence(text: str) -> bool:
    """Whether the first document's top node is (or may be) a sequence: its first content
    starts with `-`, `[`, an anchor or an alias. Reads only the stream's first lines."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        line = text[start:end].strip()
        start = end + 1
        for marker in ("---", "..."):
            if line == marker or line.startswith((marker + " ", marker + "\t")):
                line = line[3:].strip()
        if not line or line.startswith("#"):
            continue
        return line[0] in "-[&*"
    return False


def load_all_libyaml(text: str) -> list[Any]:
    """Every document, through libyaml and the builder (raises yaml.YAMLError on bad YAML)."""
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
            value = scalar(node)
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
