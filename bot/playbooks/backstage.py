"""Backstage descriptors (`apiVersion: backstage.io/v1alpha1`) -> the catalog's native layout.

Kinds read: Component, Resource and System (services), Group (teams), User (people); others
(API, Domain, Location, Template) are skipped. Entity references (`group:default/payments`,
`user:ana`, `component:checkout`) are reduced to names. Annotations carry what Backstage has no
field for (ANNOTATIONS below). Every entity remembers where it came from, so a problem found
later in the merged catalog is reported at its file, line and column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from bot.core.messages import did_you_mean
from bot.core.playbook_check import Loc

API_PREFIX = "backstage.io/"
SERVICE_KINDS = ("component", "resource", "system")
SKIPPED_KINDS = ("api", "domain", "location", "template")
TOP_KEYS = ("apiVersion", "kind", "metadata", "spec", "relations", "status")
METADATA_KEYS = (
    "name",
    "namespace",
    "title",
    "description",
    "labels",
    "annotations",
    "tags",
    "links",
    "uid",
    "etag",
)
SPEC_KEYS = {
    "component": (
        "type",
        "lifecycle",
        "owner",
        "system",
        "subcomponentOf",
        "providesApis",
        "consumesApis",
        "dependsOn",
        "dependencyOf",
    ),
    "resource": ("type", "owner", "system", "dependsOn", "dependencyOf"),
    "system": ("owner", "domain", "type"),
    "group": ("type", "profile", "parent", "children", "members"),
    "user": ("profile", "memberOf"),
}
CALENDAR = "warroom.dev/oncall-calendar"
ANNOTATIONS = {
    CALENDAR: "Group: iCalendar file (relative to this file); each SUMMARY is who is on call",
    "warroom.dev/runbook": "Component: runbook URL posted when an incident is declared",
    "warroom.dev/channel": "Component or Group: the team's chat channel",
    "warroom.dev/tier": "Component: tier 0 (most critical) to 4",
    "warroom.dev/escalate-to": "Group: people or groups paged when nobody acknowledges",
    "warroom.dev/escalate-after": "Group: how long to wait for an acknowledgement (15m)",
    "warroom.dev/slack": "User: Slack user id (U...)",
    "warroom.dev/mattermost": "User: Mattermost username",
    "pagerduty.com/integration-key": "Component or Group: PagerDuty Events API v2 routing key",
}


# Where each native field comes from in a descriptor, per kind: one map shared by every entity
# of that kind (a field an entity lacks is never the subject of a problem).
_ANNOTATION = ("metadata", "annotations")
SERVICE_FIELDS: dict[str, Loc] = {
    "name": ("metadata", "name"),
    "owner": ("spec", "owner"),
    "kind": ("kind",),
    "system": ("spec", "system"),
    "dependencies": ("spec", "dependsOn"),
    "runbook": (*_ANNOTATION, "warroom.dev/runbook"),
    "channel": (*_ANNOTATION, "warroom.dev/channel"),
    "pagerduty": (*_ANNOTATION, "pagerduty.com/integration-key"),
    "tier": (*_ANNOTATION, "warroom.dev/tier"),
}
SERVICE_LINK_FIELDS = {**SERVICE_FIELDS, "runbook": ("metadata", "links")}  # a "Runbook" link
GROUP_FIELDS: dict[str, Loc] = {
    "name": ("metadata", "name"),
    "members": ("spec", "members"),
    "channel": (*_ANNOTATION, "warroom.dev/channel"),
    "pagerduty": (*_ANNOTATION, "pagerduty.com/integration-key"),
    "escalate_after": (*_ANNOTATION, "warroom.dev/escalate-after"),
    "escalation": (*_ANNOTATION, "warroom.dev/escalate-to"),
    "calendar": (*_ANNOTATION, CALENDAR),
}
USER_FIELDS: dict[str, Loc] = {
    "name": ("metadata", "name"),
    "teams": ("spec", "memberOf"),
    "display_name": ("spec", "profile", "displayName"),
    "email": ("spec", "profile", "email"),
    "slack": (*_ANNOTATION, "warroom.dev/slack"),
    "mattermost": (*_ANNOTATION, "warroom.dev/mattermost"),
}
OWNER_FIELDS: dict[str, Loc] = {"members": ("spec", "owner")}  # a person's team of one
_FIELDS = {
    "component": SERVICE_FIELDS,
    "resource": SERVICE_FIELDS,
    "system": SERVICE_FIELDS,
    "group": GROUP_FIELDS,
    "user": USER_FIELDS,
}
# Allowed keys as sets too: a descriptor's keys are checked with one set difference.
_TOP = frozenset(TOP_KEYS)
_METADATA = frozenset(METADATA_KEYS)
_SPEC = {kind: frozenset(keys) for kind, keys in SPEC_KEYS.items()}


class Origin(NamedTuple):
    """Where an entity came from (a tuple: one is made per entity, tens of thousands)."""

    path: str
    doc: int
    base: Loc = ()  # where the entity is inside its document
    fields: dict[str, Loc] | None = None  # native field -> document path (Backstage only)

    def to_doc(self, rest: Loc) -> Loc:
        if self.fields is None:
            return self.base + rest
        if not rest:
            return ("metadata", "name")
        head = str(rest[0])
        if head in self.fields:
            return self.fields[head] + rest[1:]
        return ("metadata", "name")


@dataclass
class Merged:
    """The native layout being built from every source, with an origin per entity."""

    data: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"people": [], "teams": [], "services": []}
    )
    origins: dict[str, list[Origin]] = field(
        default_factory=lambda: {"people": [], "teams": [], "services": []}
    )
    # Backstage problems found while translating: (origin, document path, message).
    findings: list[tuple[Origin, Loc, str]] = field(default_factory=list)
    calendars: dict[str, tuple[str, Origin, Loc]] = field(default_factory=dict)

    team_names: set[Any] = field(default_factory=set)

    def add(self, kind: str, entity: dict[str, Any], origin: Origin) -> None:
        self.data[kind].append(entity)
        self.origins[kind].append(origin)
        if kind == "teams" and isinstance(entity, dict):
            self.team_names.add(entity.get("name"))


def is_backstage(doc: Any) -> bool:
    return isinstance(doc, dict) and str(doc.get("apiVersion", "")).startswith(API_PREFIX)


def ref_name(ref: Any) -> str:
    """`group:default/payments` -> `payments`."""
    text = str(ref)
    text = text.split(":", 1)[1] if ":" in text else text
    return text.rsplit("/", 1)[-1]


def ref_kind(ref: Any) -> str | None:
    text = str(ref)
    return text.split(":", 1)[0].lower() if ":" in text else None


def _unknown(
    merged: Merged, origin: Origin, where: Loc, mapping: dict[Any, Any], allowed: tuple[str, ...]
) -> None:
    for key in mapping:
        if key not in allowed:
            hint = did_you_mean(str(key), allowed)
            merged.findings.append(
                (
                    origin,
                    (*where, key, "[key]"),
                    f"unknown key '{key}'{' in ' + '.'.join(where) if where else ''}.{hint}",
                )
            )


_NONE: dict[str, Any] = {}


def add_document(merged: Merged, path: str, index: int, doc: dict[str, Any]) -> None:
    """Translate one descriptor; problems go to merged.findings. (The hot path of a big
    catalog: keys are checked with set differences, helpers called only on a problem.)"""
    kind = str(doc.get("kind", "")).lower()
    # One origin per descriptor, for its entity and its findings (which use path and doc).
    origin = Origin(path, index, (), _FIELDS.get(kind))
    metadata, spec = doc.get("metadata", _NONE), doc.get("spec", _NONE)
    metadata = metadata if type(metadata) is dict else _NONE
    spec = spec if type(spec) is dict else _NONE
    annotations = metadata.get("annotations", _NONE)
    annotations = annotations if type(annotations) is dict else _NONE
    if doc.keys() - _TOP:
        _unknown(merged, origin, (), doc, TOP_KEYS)
    if metadata.keys() - _METADATA:
        _unknown(merged, origin, ("metadata",), metadata, METADATA_KEYS)
    unknown = annotations.keys() - ANNOTATIONS.keys() if annotations else ()
    for key in (k for k in annotations if k in unknown) if unknown else ():
        if str(key).startswith("warroom.dev/"):
            hint = did_you_mean(str(key), ANNOTATIONS)
            merged.findings.append(
                (
                    origin,
                    ("metadata", "annotations", key, "[key]"),
                    f"unknown annotation '{key}'.{hint}",
                )
            )
    if kind in SKIPPED_KINDS:
        return
    if kind not in SPEC_KEYS:
        hint = did_you_mean(kind, [*SPEC_KEYS, *SKIPPED_KINDS])
        merged.findings.append((origin, ("kind",), f"unknown kind '{doc.get('kind')}'.{hint}"))
        return
    if spec.keys() - _SPEC[kind]:
        _unknown(merged, origin, ("spec",), spec, SPEC_KEYS[kind])
    name = metadata.get("name")
    if not name:
        merged.findings.append((origin, ("metadata",), "missing required key 'name'"))
        return
    if kind == "user":
        _user(merged, origin, name, spec, annotations)
    elif kind == "group":
        _group(merged, origin, name, metadata, spec, annotations)
    else:
        _service(merged, origin, kind, name, metadata, spec, annotations)


def _service(
    merged: Merged,
    origin: Origin,
    kind: str,
    name: str,
    metadata: dict[str, Any],
    spec: dict[str, Any],
    annotations: dict[str, Any],
) -> None:
    owner = spec.get("owner")
    entity: dict[str, Any] = {"name": name, "kind": kind, "owner": ref_name(owner) if owner else ""}
    if owner is None:
        merged.findings.append((origin, ("spec",), "missing required key 'owner'"))
    elif ref_kind(owner) == "user":
        # Owned by a person: a team of one, so paging and escalation still work.
        person = ref_name(owner)
        entity["owner"] = f"user-{person}"
        if entity["owner"] not in merged.team_names:
            merged.add(
                "teams",
                {"name": entity["owner"], "members": [person], "oncall": [person]},
                Origin(origin.path, origin.doc, (), OWNER_FIELDS),
            )
    if spec.get("system"):
        entity["system"] = ref_name(spec["system"])
    depends = spec.get("dependsOn")
    if isinstance(depends, list):
        entity["dependencies"] = [ref_name(d) for d in depends]
    if annotations:
        for native, key in (
            ("runbook", "warroom.dev/runbook"),
            ("channel", "warroom.dev/channel"),
            ("pagerduty", "pagerduty.com/integration-key"),
            ("tier", "warroom.dev/tier"),
        ):
            if key in annotations:
                entity[native] = annotations[key]
    # A description is not a runbook; a Backstage link titled so is.
    for link in metadata.get("links") or ():
        if isinstance(link, dict) and "runbook" in str(link.get("title", "")).lower():
            if "runbook" not in entity:
                entity["runbook"] = link.get("url")
                origin = origin._replace(fields=SERVICE_LINK_FIELDS)
    merged.add("services", entity, origin)


def _group(
    merged: Merged,
    origin: Origin,
    name: str,
    metadata: dict[str, Any],
    spec: dict[str, Any],
    annotations: dict[str, Any],
) -> None:
    profile = spec.get("profile") if isinstance(spec.get("profile"), dict) else {}
    members = spec.get("members") if isinstance(spec.get("members"), list) else []
    entity: dict[str, Any] = {"name": name, "members": [ref_name(m) for m in members]}
    if profile.get("displayName") or metadata.get("title"):
        entity["display_name"] = profile.get("displayName") or metadata.get("title")
    for native, key in (
        ("channel", "warroom.dev/channel"),
        ("pagerduty", "pagerduty.com/integration-key"),
        ("escalate_after", "warroom.dev/escalate-after"),
    ):
        if key in annotations:
            entity[native] = annotations[key]
    if "warroom.dev/escalate-to" in annotations:
        targets = [
            t.strip() for t in str(annotations["warroom.dev/escalate-to"]).split(",") if t.strip()
        ]
        levels = [{"targets": [{"oncall": True}], "after": entity.get("escalate_after", "15m")}]
        levels.append(
            {
                "targets": [
                    {"team": ref_name(t)} if ref_kind(t) == "group" else {"person": ref_name(t)}
                    for t in targets
                ]
            }
        )
        entity["escalation"] = {"levels": levels}
    if CALENDAR in annotations:
        entity["calendar"] = str(annotations[CALENDAR])
    merged.add("teams", entity, origin)


def _user(
    merged: Merged, origin: Origin, name: str, spec: dict[str, Any], annotations: dict[str, Any]
) -> None:
    groups = spec.get("memberOf")
    entity: dict[str, Any] = {
        "name": name,
        "teams": [ref_name(g) for g in groups] if isinstance(groups, list) else [],
    }
    profile = spec.get("profile")
    if isinstance(profile, dict):
        if profile.get("displayName"):
            entity["display_name"] = profile["displayName"]
        if profile.get("email"):
            entity["email"] = profile["email"]
    if annotations:
        if "warroom.dev/slack" in annotations:
            entity["slack"] = str(annotations["warroom.dev/slack"])
        if "warroom.dev/mattermost" in annotations:
            entity["mattermost"] = str(annotations["warroom.dev/mattermost"])
    merged.data["people"].append(entity)  # merged.add, inlined: ten thousand users
    merged.origins["people"].append(origin)


def link_members(merged: Merged) -> None:
    """A User's memberOf makes it a member of the Group (Backstage keeps both directions)."""
    teams: dict[str, tuple[list[Any], set[Any]]] = {}
    for team in merged.data["teams"]:
        if isinstance(team, dict) and "name" in team:
            members = team.get("members")
            if isinstance(members, list):
                teams[team["name"]] = (members, set(members))
            elif "members" not in team:
                teams[team["name"]] = (team.setdefault("members", []), set())
    for person in merged.data["people"]:
        if not isinstance(person, dict) or not isinstance(person.get("teams"), list):
            continue
        name = person.get("name")
        for team in person["teams"] if isinstance(name, str) else ():
            found = teams.get(team) if isinstance(team, str) else None
            if found is not None and name not in found[1]:
                found[0].append(name)
                found[1].add(name)
