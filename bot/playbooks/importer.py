"""`warroom playbook import`: a Mattermost Playbooks export (version 1) -> warroom playbook YAML.

Mattermost Playbooks now needs a paid licence; this is the way in for its users. The export is
the JSON that Playbooks' "Export" button writes (GeneratePlaybookExport: `version`, `title`,
`description`, `checklists` with `items`, `message_on_join`, reminder and retrospective
settings, `metrics`, ...); a playbook fetched from its REST API (same fields, no `version`,
plus broadcast and invitation settings) is read too. What has a warroom equivalent is carried
over; everything else is listed, each with what to do instead, so nothing is dropped silently.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from bot.core.model import Severity
from bot.core.naming import slugify
from bot.core.playbook import format_duration_spec

EXPORT_VERSION = 1
SCHEMA_HEADER = "# yaml-language-server: $schema=./playbook.schema.json\n"
MAX_NAME = 64


class ExportUnreadable(Exception):
    """The file is not a Playbooks export warroom can read; str() says why."""


@dataclass
class Conversion:
    playbook: dict[str, Any]
    # What could not be carried over, one line each, phrased as what to do instead.
    left_out: list[str] = field(default_factory=list)
    retrospective_template: str | None = None


def read_export(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ExportUnreadable(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise ExportUnreadable("not a Playbooks export: expected a JSON object")
    version = data.get("version", EXPORT_VERSION)
    if version != EXPORT_VERSION:
        raise ExportUnreadable(
            f"export version {version!r}: warroom reads version {EXPORT_VERSION} "
            "(export the playbook again from Mattermost Playbooks)"
        )
    if not isinstance(data.get("title"), str) or not data["title"].strip():
        raise ExportUnreadable("not a Playbooks export: it has no title")
    return data


def convert(export: dict[str, Any]) -> Conversion:
    """The warroom playbook (as a mapping, in schema order) and what was left out."""
    title = export["title"].strip()
    result = Conversion({"name": _name(title, "imported")})
    left = result.left_out
    about = str(export.get("description") or "").strip()
    description = f"{title} (imported from Mattermost Playbooks)"
    result.playbook["description"] = _text(f"{description}\n\n{about}" if about else description)
    left.append(
        "applies_to: Playbooks has no severities or services, so this playbook runs wherever "
        "no more specific one applies; add applies_to, or choose it with "
        f"`playbook:{result.playbook['name']}` on /incident declare"
    )
    _invitations(export, result)
    _message_on_join(export, result)
    _status_updates(export, result)
    _checklists(export, result)
    _retrospective(export, result)
    _broadcast(export, left)
    _metrics(export, left)
    _the_rest(export, left)
    return result


def _name(text: str, fallback: str) -> str:
    slug = slugify(text)[:MAX_NAME].strip("-")
    return slug or fallback


def _text(value: str) -> str:
    return LiteralScalarString(value) if "\n" in value else value


def _braces(template: str) -> str:
    # warroom templates use {variable}; Playbooks text is literal, so its braces are escaped.
    return template.replace("{", "{{").replace("}", "}}")


def _seconds(value: object) -> timedelta | None:
    try:
        seconds = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return timedelta(seconds=seconds) if seconds > 0 else None


def _invitations(export: dict[str, Any], result: Conversion) -> None:
    users = [u for u in export.get("invited_user_ids") or [] if isinstance(u, str)]
    groups = export.get("invited_group_ids") or []
    if users and export.get("invite_users_enabled", True):
        result.left_out.append(
            f"invited users: {len(users)} Mattermost user id(s) ({', '.join(users)}), not "
            "names; list their usernames under invite.users, or the team under invite.teams"
        )
    if groups:
        result.left_out.append(
            f"invited groups: {len(groups)} Mattermost group id(s); name the team under "
            "invite.teams (teams come from WARROOM_CATALOG)"
        )
    if export.get("default_owner_enabled") and export.get("default_owner_id"):
        result.left_out.append(
            "default owner: the declarer is the commander; use commander:@user on /incident declare"
        )


def _message_on_join(export: dict[str, Any], result: Conversion) -> None:
    message = str(export.get("message_on_join") or "").strip()
    if not message:
        return
    if not export.get("message_on_join_enabled", True):
        result.left_out.append("message_on_join was disabled; it was not carried over")
        return
    result.playbook["announcement"] = _text(_braces(message))
    result.left_out.append(
        "message_on_join became the announcement: posted once in the incident channel when "
        "it opens, not to each person who joins"
    )


def _status_updates(export: dict[str, Any], result: Conversion) -> None:
    every = _seconds(export.get("reminder_timer_default_seconds"))
    enabled = export.get("status_update_enabled", True)
    if every is None or not enabled:
        if every is not None:
            result.left_out.append("status updates were disabled; no update reminders")
        return
    cadence = format_duration_spec(every)
    result.playbook["status_updates"] = {"every": {s.value: cadence for s in Severity}}
    if str(export.get("reminder_message_template") or "").strip():
        result.left_out.append(
            "reminder_message_template (the status update's starting text): warroom has "
            "none; responders write the update with /incident status TEXT"
        )


def _checklists(export: dict[str, Any], result: Conversion) -> None:
    lists = []
    names: set[str] = set()
    for number, checklist in enumerate(export.get("checklists") or [], 1):
        if not isinstance(checklist, dict):
            continue
        title = str(checklist.get("title") or "").strip() or f"checklist {number}"
        name = _name(title, f"checklist-{number}")
        while name in names:
            name = f"{name[: MAX_NAME - 3]}-{number}"
        tasks = [t for t in map(_task(result, title), checklist.get("items") or []) if t]
        if not tasks:
            result.left_out.append(f"checklist '{title}' has no items: left out")
            continue
        names.add(name)
        lists.append({"name": name, "tasks": tasks})
    if lists:
        result.playbook["checklists"] = lists


def _task(result: Conversion, checklist: str) -> Any:
    def convert_item(item: Any) -> dict[str, Any] | None:
        if not isinstance(item, dict):
            return None
        title = str(item.get("title") or "").strip()
        if not title:
            result.left_out.append(f"an item without a title in '{checklist}': left out")
            return None
        task: dict[str, Any] = {"title": title}
        description = str(item.get("description") or "").strip()
        command = str(item.get("command") or "").strip()
        if command:
            # Kept where responders see it; warroom cannot run it for them.
            description = f"{description}\n\nRun: {command}".strip()
            result.left_out.append(
                f"'{title}': slash command {command} cannot be run from a task; it is in the "
                "task's description"
            )
        if description:
            task["description"] = _text(description)
        due = item.get("due_date")
        after = _seconds(int(due) // 1000) if isinstance(due, int) and due > 0 else None
        if after is not None:
            task["due_after"] = format_duration_spec(after)
        if item.get("task_actions"):
            result.left_out.append(f"'{title}': task actions are not carried over")
        return task

    return convert_item


def _retrospective(export: dict[str, Any], result: Conversion) -> None:
    template = str(export.get("retrospective_template") or "").strip()
    enabled = export.get("retrospective_enabled", True)
    if not enabled:
        if template:
            result.left_out.append("the retrospective was disabled; its template is left out")
        return
    interval = _seconds(export.get("retrospective_reminder_interval_seconds"))
    if interval is not None:
        result.playbook["retrospective"] = {"after": format_duration_spec(interval)}
        result.left_out.append(
            f"retrospective reminder: warroom reminds once, {format_duration_spec(interval)} "
            "after resolve, not again at that interval"
        )
    if template:
        result.retrospective_template = template + "\n"
        result.left_out.append(
            "retrospective_template: postmortems come from `warroom export` "
            "(or `--template FILE`); the template is saved beside the playbook with -o"
        )


def _broadcast(export: dict[str, Any], left: list[str]) -> None:
    channels = export.get("broadcast_channel_ids") or []
    old = export.get("announcement_channel_id")
    if (channels and export.get("broadcast_enabled", True)) or (
        old and export.get("announcement_channel_enabled")
    ):
        count = len(channels) or 1
        left.append(
            f"broadcast to {count} channel(s): warroom announces every incident in one channel "
            "per platform: set SLACK_ANNOUNCE_CHANNEL / MATTERMOST_ANNOUNCE_CHANNEL"
        )


def _metrics(export: dict[str, Any], left: list[str]) -> None:
    for metric in export.get("metrics") or []:
        if not isinstance(metric, dict):
            continue
        kind = str(metric.get("type", "")).removeprefix("metric_") or "metric"
        target = metric.get("target")
        if kind == "duration" and isinstance(target, int) and target > 0:
            target = format_duration_spec(timedelta(milliseconds=target))  # Playbooks: ms
        shown = f", target {target}" if target not in (None, "") else ""
        left.append(
            f"metric '{metric.get('title', '')}' ({kind}{shown}): warroom has no custom "
            "metrics; `warroom report` gives time to acknowledge and resolve"
        )


_NOT_CARRIED = {
    "signal_any_keywords": "keywords that suggest the playbook: warroom does not watch messages",
    "channel_name_template": "channel name template: warroom names channels inc-N-title",
    "category_name": "sidebar category: not set by warroom",
    "run_summary_template": "run summary template: the pinned summary is warroom's own",
    "webhook_on_creation_urls": "webhooks on creation: not sent by warroom",
    "webhook_on_status_update_urls": "webhooks on status update: not sent by warroom",
    "channel_id": "linking runs to an existing channel: warroom opens a channel per incident",
}


def _the_rest(export: dict[str, Any], left: list[str]) -> None:
    enabled_by = {
        "signal_any_keywords": "signal_any_keywords_enabled",
        "category_name": "categorize_channel_enabled",
        "run_summary_template": "run_summary_template_enabled",
        "webhook_on_creation_urls": "webhook_on_creation_enabled",
        "webhook_on_status_update_urls": "webhook_on_status_update_enabled",
    }
    for key, what in _NOT_CARRIED.items():
        value = export.get(key)
        switch = enabled_by.get(key)
        if value and (switch is None or export.get(switch, True)):
            if key == "channel_id" and export.get("channel_mode") != "link_existing_channel":
                continue
            left.append(what)


def to_yaml(playbook: dict[str, Any]) -> str:
    yaml = YAML()
    yaml.width = 4096  # long titles stay on one line
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(playbook, out)
    return SCHEMA_HEADER + out.getvalue()
