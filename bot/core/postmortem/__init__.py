"""Incident record -> postmortem Markdown that a team can commit as is.

`render_postmortem(record, now, template=None)` renders the default template, or `template`
(Jinja2 source, e.g. a playbook's `postmortem_template`). Templates run sandboxed; every value
they print goes through `safe_text` (broadcast mentions such as @here / <!channel> put in code
spans, raw HTML defused, Slack <@U123|alice> shown as @alice); a misspelt name is an error
(PostmortemTemplateError, naming the line).

Filters: `cell` (a table cell: `|` escaped, line breaks as <br>), `quote` (a block quote),
`inline` (one line), `mermaid` (a label inside a Mermaid diagram), `safe` (safe_text only).

Context variables (all times UTC, "YYYY-MM-DD HH:MM:SS UTC" unless said; offsets "T+5m 00s";
durations "1h 05m"; text as recorded, so filter it):
  incident            the Incident itself (number, title, severity, state, service, ...)
  ref, title          "INC-7", the title
  description         text given when declaring, or None
  severity, severity_label            current: "sev2", "major"
  peak_severity, peak_severity_label  the worst it reached
  state, service, platform, channel (channel name or None), declared_by, commander (or None)
  is_open             not resolved at export
  exported_at         when the document was made
  duration            declared -> resolved (or -> export while open)
  key_times           [KeyTime(label, at, offset)] Declared, Acknowledged, Mitigated, Resolved;
                      at "YYYY-MM-DD HH:MM:SS" (UTC), at/offset None when it has not happened
  tta, ttm, ttr       time to acknowledge / mitigate / resolve, or None
  resolution          the text given with /incident resolve, or None
  severity_history    [HistoryPoint(at, offset, value, label, by)], first entry the declared one;
                      at "YYYY-MM-DD HH:MM:SS" (UTC)
  state_history       [HistoryPoint(...)] likewise for states (label == value)
  time_at_severity    [(severity, duration)] how long it spent at each severity
  roles               [RoleItem(role, user)] current holders, then the playbook's roles that
                      nobody held (user None)
  participants        [ParticipantItem(user, joined_at, roles)]
  playbook            Playbook(name, version) or None; version: 12 characters of its hash
  checklist           Checklist(total, done, skipped, open, tasks=[TaskItem(position,
                      checklist, title, state "open|done|skipped", mark "[x]", assignee)])
  status_updates      [StatusItem(at, offset, author, severity, state, text)]
  timeline            [Entry(at "YYYY-MM-DD HH:MM:SS", offset, kind, actor, text, edited,
                      highlight, highlighted_by, original_text, event)]; event is the kind
                      as a reader says it ("Role", "Status update"); deleted messages and
                      postmortem exports left out, edited messages with their current text
  highlights          the timeline entries marked highlight=True
  followups           [FollowUp(number, text, by, at)] from /incident followup
  state_chart         Mermaid gantt source (no fence) of states, severities and key times
  alerts              [AlertItem(at, offset, status "firing|resolved", alertname, summary,
                      source, link)] the alerts recorded on the timeline, in order
  first_alert_at      when the first alert started, or None without alerts
  ttd                 time to detect: first alert to declaration ("0s" if declared first),
                      or None without alerts
"""

from bot.core.postmortem.context import build_context
from bot.core.postmortem.render import (
    PostmortemTemplateError,
    compile_template,
    render_postmortem,
)

__all__ = ["PostmortemTemplateError", "build_context", "compile_template", "render_postmortem"]
