"""The default postmortem template. A playbook's own template gets the same context."""

DEFAULT_TEMPLATE = """\
# {{ ref }}: {{ title | inline }}

## Summary

{{ ref }} ({{ severity }}, {{ severity_label }})\
{% if service %} on {{ service | inline }}{% endif %} \
was declared by @{{ declared_by | inline }} at {{ key_times[0].at }} UTC and \
{% if is_open %}was still {{ state }} at export, {{ duration }} later.\
{% else %}was resolved after {{ duration }}.{% endif %}


{% if description %}
{{ description }}

{% endif %}
{% if resolution %}
**Resolution:** {{ resolution | inline }}

{% endif %}
| | |
| --- | --- |
| Severity | {{ severity }} ({{ severity_label }})\
{% if peak_severity != severity %}, at worst {{ peak_severity }} ({{ peak_severity_label }})\
{% endif %} |
| State | {{ state }} |
| Service | {{ (service or "-") | cell }} |
| Declared by | @{{ declared_by | cell }} |
| Commander | {% if commander %}@{{ commander | cell }}{% else %}-{% endif %} |
| Playbook | {% if playbook %}{{ playbook.name | cell }}\
{% if playbook.version %} (version `{{ playbook.version }}`){% endif %}{% else %}none{% endif %} |
| Channel | {% if channel %}#{{ channel | cell }} ({{ platform }}){% else %}-{% endif %} |

## Impact

- Service: {{ (service or "not recorded") | inline }}
- Duration: {{ duration }}{% if is_open %} so far (still open){% endif %}

- Time at each severity: \
{% for sev, spent in time_at_severity %}{{ sev }} {{ spent }}{{ ", " if not loop.last }}{% endfor %}


_Who was affected, how, and how many (customers, requests, money)? To be written._

## Severity history

| Time (UTC) | T+ | Severity | Changed by |
| --- | --- | --- | --- |
{% for change in severity_history %}
| {{ change.at }} | {{ change.offset }} | {{ change.value }} ({{ change.label }}) \
| @{{ change.by | cell }} |
{% endfor %}

## Key times

| Moment | Time (UTC) | Since declared |
| --- | --- | --- |
{% for moment in key_times %}
| {{ moment.label }} | {{ moment.at or "-" }} | {{ moment.offset or "-" }} |
{% endfor %}

- Time to acknowledge: {{ tta or "not acknowledged" }}
- Time to mitigate: {{ ttm or "not mitigated" }}
- Time to resolve: {{ ttr or "still open at export (" ~ duration ~ " so far)" }}

```mermaid
{{ state_chart }}
```

{% if alerts %}
## Alerts

First alert at {{ first_alert_at }}; time to detect (first alert to declaration): {{ ttd }}.

| Time (UTC) | T+ | Alert | Status | Summary |
| --- | --- | --- | --- | --- |
{% for alert in alerts %}
| {{ alert.at }} | {{ alert.offset }} | {{ alert.alertname | cell }} | {{ alert.status }} \
| {{ alert.summary | cell }} |
{% endfor %}

{% endif %}
## Roles and participants

{% if roles %}
| Role | Who |
| --- | --- |
{% for role in roles %}
| {{ role.role | cell }} | {% if role.user %}@{{ role.user | cell }}{% else %}nobody{% endif %} |
{% endfor %}

{% endif %}
{% if participants %}
Participants: {% for p in participants %}@{{ p.user | inline }}{{ ", " if not loop.last }}\
{% endfor %}


{% endif %}
## Checklist

{% if playbook %}
Playbook: {{ playbook.name | inline }}\
{% if playbook.version %} (version `{{ playbook.version }}`){% endif %}


{% endif %}
{% if checklist.total %}
{{ checklist.done }} of {{ checklist.total }} tasks done, {{ checklist.skipped }} skipped, \
{{ checklist.open }} left open.

{% for task in checklist.tasks %}
{% if task.state == "done" %}
- [x] {{ task.title | inline }}\
{% elif task.state == "skipped" %}
- [ ] ~~{{ task.title | inline }}~~ (skipped)\
{% else %}
- [ ] {{ task.title | inline }}\
{% endif %}
{% if task.assignee %} (@{{ task.assignee | inline }}){% endif %}

{% endfor %}
{% else %}
No checklist tasks.
{% endif %}

## Status updates

{% for update in status_updates %}
**{{ update.at }}** ({{ update.offset }}, {{ update.severity }}, {{ update.state }}), \
@{{ update.author | inline }}:

{{ update.text | quote }}

{% else %}
None were posted.

{% endfor %}
## Highlights

{% for moment in highlights %}
- **{{ moment.at }}** ({{ moment.offset }}) @{{ moment.actor | inline }}: {{ moment.text | inline }}
{% else %}
No messages were highlighted.
{% endfor %}

## Timeline

| Time (UTC) | T+ | Event | Who | What |
| --- | --- | --- | --- | --- |
{% for event in timeline %}
| {{ event.at }} | {{ event.offset }} | {{ event.event }} | @{{ event.actor | cell }} \
| {% if event.highlight %}:pushpin: {% endif %}{{ event.text | cell }}\
{% if event.edited %} _(edited)_{% endif %} |
{% endfor %}

## Follow-up actions

{% for item in followups %}
- [ ] {{ item.text | inline }} (@{{ item.by | inline }}, {{ item.at }})
{% else %}
- [ ] _None recorded yet: add them with /incident followup TEXT._
{% endfor %}

## Root cause

_To be written._

## What went well

_To be written._

## What went badly

_To be written._

---
_Exported by warroom on {{ exported_at }}._
"""
