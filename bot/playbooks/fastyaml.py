"""Fast YAML for big catalogs: libyaml's C parser with YAML 1.2 core-schema scalars.

PyYAML resolves YAML 1.1 (`no` -> False, `18:00` -> 1080); ruamel keeps YAML 1.2 but its
round-trip parse is the slow part of loading a catalog. This loader parses in C and resolves
only 1.2's null, true/false, ints and floats, so it reads what ruamel reads, without positions.
Positions are for errors: the loader re-parses with ruamel only when there is one to report.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Yaml12Loader(_Base):  # type: ignore[misc, valid-type]
    yaml_implicit_resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}


def _add(tag: str, pattern: str, first: str) -> None:
    Yaml12Loader.add_implicit_resolver(tag, re.compile(pattern, re.X), list(first))


_add("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN\0")
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])
_add("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF")
_add("tag:yaml.org,2002:int", r"^[-+]?[0-9]+$", "-+0123456789")
_add(
    "tag:yaml.org,2002:float",
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
    "-+0123456789.",
)


def load_all(text: str) -> list[Any]:
    """Every document of a YAML stream (raises yaml.YAMLError on bad YAML)."""
    return list(yaml.load_all(text, Loader=Yaml12Loader))
