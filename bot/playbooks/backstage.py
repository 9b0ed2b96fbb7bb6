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

    def add(self, kind: str, entity: dict[str, Any], origin: Origin) -> None:
        self.data[kind].append(entity)
        self.origins[kind].append(origin)


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
    merged: Merged, origin: Origin, where: Loc, mapping: Any, allowed: tuple[str, ...]
) -> None:
    if not isinstance(mapping, dict):
        return
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


def add_document(merged: Merged, path: str, index: int, doc: dict[str, Any]) -> None:
    """Translate one descriptor; problems go to merged.findings."""
    origin = Origin(path, index)
    kind = str(doc.get("kind", "")).lower()
    _unknown(merged, origin, (), doc, TOP_KEYS)
    metadata = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
    annotations = (
        metadata.get("annotations") if isinstance(metadata.get("annotations"), dict) else {}
    )
    _unknown(merged, origin, ("metadata",), metadata, METADATA_KEYS)
    for key in annotations:
        if str(key).startswith("warroom.dev/") and key not in ANNOTATIONS:
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
    _unknown(merged, origin, ("spec",), spec, SPEC_KEYS[kind])
    name = metadata.get("name")
    if not name:
        merged.findings.append((origin, ("metadata",), "missing required key 'name'"))
        return
    if kind in SERVICE_KINDS:
        _service(merged, origin, kind, name, metadata, spec, annotations)
    elif kind == "group":
        _group(merged, origin, name, metadata, spec, annotations)
    else:
        _user(merged, origin, name, spec, annotations)


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
    fields: dict[str, Loc] = {
        "name": ("metadata", "name"),
        "owner": ("spec", "owner"),
        "kind": ("kind",),
        "dependencies": ("spec", "dependsOn"),
    }
    if owner is None:
        merged.findings.append((origin, ("spec",), "missing required key 'owner'"))
    elif ref_kind(owner) == "user":
        # Owned by a person: a team of one, so paging and escalation still work.
        person = ref_name(owner)
        entity["owner"] = f"user-{person}"
        if not any(t["name"] == entity["owner"] for t in merged.data["teams"]):
            merged.add(
                "teams",
                {"name": entity["owner"], "members": [person], "oncall": [person]},
                Origin(origin.path, origin.doc, (), {"members": ("spec", "owner")}),
            )
    if spec.get("system"):
        entity["system"] = ref_name(spec["system"])
    depends = spec.get("dependsOn")
    if isinstance(depends, list):
        entity["dependencies"] = [ref_name(d) for d in depends]
    for native, key in (
        ("runbook", "warroom.dev/runbook"),
        ("channel", "warroom.dev/channel"),
        ("pagerduty", "pagerduty.com/integration-key"),
        ("tier", "warroom.dev/tier"),
    ):
        if key in annotations:
            entity[native] = annotations[key]
            fields[native] = ("metadata", "annotations", key)
    if metadata.get("description") and "runbook" not in entity:
        pass  # a description is not a runbook; Backstage links may be (below)
    for link in metadata.get("links") or []:
        if isinstance(link, dict) and "runbook" in str(link.get("title", "")).lower():
            entity.setdefault("runbook", link.get("url"))
    merged.add("services", entity, Origin(origin.path, origin.doc, (), fields))


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
    fields: dict[str, Loc] = {"name": ("metadata", "name"), "members": ("spec", "members")}
    if profile.get("displayName") or metadata.get("title"):
        entity["display_name"] = profile.get("displayName") or metadata.get("title")
    for native, key in (
        ("channel", "warroom.dev/channel"),
        ("pagerduty", "pagerduty.com/integration-key"),
        ("escalate_after", "warroom.dev/escalate-after"),
    ):
        if key in annotations:
            entity[native] = annotations[key]
            fields[native] = ("metadata", "annotations", key)
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
        fields["escalation"] = ("metadata", "annotations", "warroom.dev/escalate-to")
    if CALENDAR in annotations:
        entity["calendar"] = str(annotations[CALENDAR])
        fields["calendar"] = ("metadata", "annotations", CALENDAR)
    merged.add("teams", entity, Origin(origin.path, origin.doc, (), fields))


def _user(
    merged: Merged, origin: Origin, name: str, spec: dict[str, Any], annotations: dict[str, Any]
) -> None:
    profile = spec.get("profile") if isinstance(spec.get("profile"), dict) else {}
    groups = spec.get("memberOf") if isinstance(spec.get("memberOf"), list) else []
    entity: dict[str, Any] = {"name": name, "teams": [ref_name(g) for g in groups]}
    fields: dict[str, Loc] = {"name": ("metadata", "name"), "teams": ("spec", "memberOf")}
    for native, key in (("display_name", "displayName"), ("email", "email")):
        if profile.get(key):
            entity[native] = profile[key]
            fields[native] = ("spec", "profile", key)
    for native, key in (("slack", "warroom.dev/slack"), ("mattermost", "warroom.dev/mattermost")):
        if key in annotations:
            entity[native] = str(annotations[key])
            fields[native] = ("metadata", "annotations", key)
    merged.add("people", entity, Origin(origin.path, origin.doc, (), fields))


def link_members(merged: Merged) -> None:
    """A User's memberOf makes it a member of the Group (Backstage keeps both directions)."""
    teams = {t["name"]: t for t in merged.data["teams"] if isinstance(t, dict) and "name" in t}
    for person in merged.data["people"]:
        groups = person.get("teams") if isinstance(person, dict) else None
        for team in groups if isinstance(groups, list) else []:
            members = teams[team].setdefault("members", []) if team in teams else None
            if members is not None and person["name"] not in members:
                members.append(person["name"])
